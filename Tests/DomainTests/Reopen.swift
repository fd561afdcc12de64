import Domain
import Storage

/// Opens the same database file again, as a restarted vnetd would.
enum VnetdDatabaseReopen {
    static func nics(folder: String, vm: VMID) throws -> [VirtualNIC] {
        let database = try VnetdDatabase(directory: folder)
        defer { try? database.close() }
        return try SQLiteInventoryStore(database: database).read { try $0.nics(of: vm) }
    }
}
