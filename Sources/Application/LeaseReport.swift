import Domain
import Foundation
import Storage

/// `vnetd leases NETWORK`: the leases of one network, read from the data folder (works while
/// vnetd runs: SQLite in WAL mode lets a reader in beside the server).
public enum LeaseReport {
    public struct NoSuchNetwork: Error, CustomStringConvertible {
        public let name: String
        public var description: String { "there is no virtual network named or with the id “\(name)”" }
    }

    /// The table (or CSV) of the network named `network` (its name, ignoring case, or its id).
    public static func render(dataDirectory: String, network: String, csv: Bool, clock: any Domain.Clock = SystemClock()) throws -> String {
        guard FileManager.default.fileExists(atPath: dataDirectory + "/" + VnetdDatabase.fileName) else {
            throw NoSuchNetwork(name: network)
        }
        let database = try VnetdDatabase(directory: dataDirectory)
        defer { try? database.close() }
        let store = SQLiteInventoryStore(database: database)
        let id = try store.read { db -> NetworkID? in
            if let byID = try db.network(NetworkID(rawValue: network)) { return byID.id }
            return try db.network(nameKey: NameRules.uniquenessKey(network))?.id
        }
        guard let id else { throw NoSuchNetwork(name: network) }
        let service = DHCPService(store: store, clock: clock, dataplane: NoDataplane(), hostNetworks: NoHostNetworks())
        let listing = try service.leaseListing(of: id)
        let now = clock.now()
        return csv ? LeaseTable.csv(listing, now: now) : LeaseTable.text(listing, now: now)
    }
}
