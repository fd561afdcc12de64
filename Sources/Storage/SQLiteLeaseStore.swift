import Domain
import Foundation
import GRDB

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
                }
            }
        }
    }

    public func leases(of network: NetworkID) throws -> [DHCPLease] {
        try database.writer.read { try SQLiteInventoryAccess(db: $0).leases(of: network) }
    }

    public func allLeases() throws -> [DHCPLease] {
        try database.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM dhcp_lease").compactMap(SQLiteInventoryAccess.lease)
        }
    }
}
