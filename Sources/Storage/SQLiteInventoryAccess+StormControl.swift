import Domain
import Foundation
import GRDB

/// Networks' storm control in SQLite: one row per network that has any limit.
extension SQLiteInventoryAccess {
    func stormControl(of network: NetworkID) throws -> StormControlSettings {
        try Row.fetchOne(db, sql: "SELECT * FROM storm_control WHERE network_id = ?", arguments: [network.rawValue])
            .map(Self.stormControl) ?? StormControlSettings()
    }

    func allStormControl() throws -> [(NetworkID, StormControlSettings)] {
        try Row.fetchAll(db, sql: "SELECT * FROM storm_control ORDER BY network_id").map {
            (NetworkID(rawValue: $0["network_id"]), Self.stormControl($0))
        }
    }

    func save(_ stormControl: StormControlSettings, for network: NetworkID) throws {
        guard !stormControl.isOff else {
            return try db.execute(sql: "DELETE FROM storm_control WHERE network_id = ?", arguments: [network.rawValue])
        }
        try db.execute(sql: """
            INSERT INTO storm_control (network_id, broadcast, multicast, unknown_unicast) VALUES (?, ?, ?, ?)
            ON CONFLICT (network_id) DO UPDATE SET broadcast = excluded.broadcast, multicast = excluded.multicast,
                unknown_unicast = excluded.unknown_unicast
            """, arguments: [network.rawValue, stormControl.broadcast, stormControl.multicast, stormControl.unknownUnicast])
    }

    static func stormControl(_ row: Row) -> StormControlSettings {
        StormControlSettings(broadcast: row["broadcast"], multicast: row["multicast"], unknownUnicast: row["unknown_unicast"])
    }
}
