import Domain
import GRDB

public struct SQLiteInventory: InventoryReading {
    private let database: VnetdDatabase

    public init(database: VnetdDatabase) {
        self.database = database
    }

    public func summary() throws -> InventorySummary {
        try database.writer.read { db in
            let row = try Row.fetchOne(db, sql: """
                SELECT (SELECT COUNT(*) FROM network) AS networks,
                       (SELECT COUNT(*) FROM vm) AS vms,
                       (SELECT COUNT(*) FROM nic) AS nics,
                       (SELECT COUNT(*) FROM nic WHERE network_id IS NOT NULL) AS connected
                """)
            return InventorySummary(
                networks: row?["networks"] ?? 0,
                virtualMachines: row?["vms"] ?? 0,
                nics: row?["nics"] ?? 0,
                connectedNICs: row?["connected"] ?? 0)
        }
    }
}
