import Domain
import Foundation
import GRDB
import Packets

/// Port forwards of NAT networks in SQLite.
extension SQLiteInventoryAccess {
    func portForwards(of network: NetworkID) throws -> [PortForward] {
        try Row.fetchAll(db, sql: "SELECT * FROM port_forward WHERE network_id = ? ORDER BY proto, host_port, id", arguments: [network.rawValue])
            .compactMap(Self.portForward)
    }

    func allPortForwards() throws -> [PortForward] {
        try Row.fetchAll(db, sql: "SELECT * FROM port_forward ORDER BY network_id, proto, host_port, id").compactMap(Self.portForward)
    }

    func insert(_ forward: PortForward) throws -> Int64 {
        try db.execute(sql: """
            INSERT INTO port_forward (network_id, proto, host_address, host_port, mac, guest_port) VALUES (?, ?, ?, ?, ?, ?)
            """, arguments: [forward.network.rawValue, forward.proto.rawValue, forward.hostAddress?.description, forward.hostPort,
                             forward.mac.description, forward.guestPort])
        return db.lastInsertedRowID
    }

    func deletePortForward(_ id: Int64) throws {
        try db.execute(sql: "DELETE FROM port_forward WHERE id = ?", arguments: [id])
    }

    static func portForward(_ row: Row) -> PortForward? {
        let address: String? = row["host_address"]
        guard let proto = PortForwardProtocol(rawValue: row["proto"]), let mac = MACAddress(parsing: row["mac"]) else { return nil }
        return PortForward(id: row["id"], network: NetworkID(rawValue: row["network_id"]), proto: proto,
                           hostAddress: address.flatMap(IPv4Address.init(parsing:)), hostPort: row["host_port"], mac: mac, guestPort: row["guest_port"])
    }
}
