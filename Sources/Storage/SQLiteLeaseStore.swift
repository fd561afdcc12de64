import Domain
import Foundation
import GRDB
import Packets

/// Leases in SQLite. The dataplane hands over whole batches: one transaction, one fsync, for
/// every lease granted in a round, before any of their ACKs is sent.
public struct SQLiteLeaseStore: LeaseStore {
    private let database: VnetdDatabase

    public init(database: VnetdDatabase) {
        self.database = database
    }

    public func save(_ records: [LeaseRecord]) throws {
        guard !records.isEmpty else { return }
        let granted = records.filter { if case .bound = $0 { true } else { false } }.count
        try database.write(refusing: .leases(granted)) { db in
            for record in records {
                switch record {
                case .bound(let lease):
                    // A lease for a network removed meanwhile is simply not kept.
                    try db.execute(sql: """
                        INSERT INTO dhcp_lease (network_id, address, mac, client_id, host_name, expires_at)
                        SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM network WHERE id = ?)
                        ON CONFLICT (network_id, address) DO UPDATE SET mac = excluded.mac, client_id = excluded.client_id,
                            host_name = excluded.host_name, expires_at = excluded.expires_at
                        """, arguments: [
                            lease.network.rawValue, lease.address.description, lease.mac.description, Data(lease.clientID),
                            lease.hostName, SQLiteInventoryAccess.milliseconds(lease.expires), lease.network.rawValue,
                        ])
                case .released(let network, let address):
                    try db.execute(sql: "DELETE FROM dhcp_lease WHERE network_id = ? AND address = ?", arguments: [network.rawValue, address.description])
                case .held(let network, let address, let until):
                    try db.execute(sql: """
                        INSERT INTO dhcp_hold (network_id, address, until) SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM network WHERE id = ?)
                        ON CONFLICT (network_id, address) DO UPDATE SET until = excluded.until
                        """, arguments: [network.rawValue, address.description, SQLiteInventoryAccess.milliseconds(until), network.rawValue])
                    try db.execute(sql: "DELETE FROM dhcp_hold WHERE until < ?", arguments: [SQLiteInventoryAccess.milliseconds(Date()) - 86_400_000])
                }
            }
        }
    }

    public func leases(of network: NetworkID) throws -> [DHCPLease] {
        try database.writer.read { try SQLiteInventoryAccess(db: $0).leases(of: network) }
    }

    public func holds(of network: NetworkID, now: Date) throws -> [DHCPHold] {
        try database.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT address, until FROM dhcp_hold WHERE network_id = ? AND until > ?",
                             arguments: [network.rawValue, SQLiteInventoryAccess.milliseconds(now)]).compactMap { row in
                guard let text: String = row["address"], let address = IPv4Address(parsing: text), let until: Int64 = row["until"] else { return nil }
                return DHCPHold(address: address, until: Date(timeIntervalSince1970: TimeInterval(until) / 1_000))
            }
        }
    }

    public func allLeases() throws -> [DHCPLease] {
        try database.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM dhcp_lease").compactMap(SQLiteInventoryAccess.lease)
        }
    }
}
