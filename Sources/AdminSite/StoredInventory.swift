import Domain
import Foundation
import Synchronization

/// What Master Status's "needs attention" reads from the store, kept until the store changes:
/// every network, adapter and VM name, the DHCP scopes and their live lease counts. Only the
/// runtime states are looked up per request, so the page stays cheap with thousands of adapters.
final class StoredInventory: Sendable {
    struct Snapshot: Sendable {
        var networks: [VirtualNetwork] = []
        var nics: [NICID: VirtualNIC] = [:]
        var vmNames: [VMID: String] = [:]
        var scopes: [(NetworkID, DHCPSettings)] = []
        var leaseCounts: [NetworkID: Int] = [:]
        /// Lease counts are of leases live at this time; a new snapshot is read a minute later at most.
        var readAt = Date.distantPast
    }

    private let cached = Mutex<(generation: UInt64, snapshot: Snapshot)?>(nil)
    private let attention = Mutex<(generation: UInt64, publication: UInt64, items: [Attention.Item])?>(nil)

    /// What needs attention, reused while neither the store nor the published runtime status
    /// changed (the data path publishes every second and after each change); computed every time
    /// when the status cannot say.
    func attentionItems(_ dependencies: SiteDependencies) throws -> [Attention.Item] {
        let generation = dependencies.changes.generation
        guard let publication = dependencies.status.publication else { return try Attention.items(dependencies, inventory: self) }
        if let hit = attention.withLock({ $0 }), hit.generation == generation, hit.publication == publication {
            return hit.items
        }
        let items = try Attention.items(dependencies, inventory: self)
        attention.withLock { $0 = (generation, publication, items) }
        return items
    }

    func snapshot(_ dependencies: SiteDependencies) throws -> Snapshot {
        let generation = dependencies.changes.generation
        let now = dependencies.clock.now()
        if let hit = cached.withLock({ $0 }), hit.generation == generation, now.timeIntervalSince(hit.snapshot.readAt) < 60 {
            return hit.snapshot
        }
        let snapshot = try dependencies.store.read { db in
            var snapshot = Snapshot()
            snapshot.networks = try db.allNetworks()
            snapshot.nics = Dictionary(try db.allNICs().map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            snapshot.vmNames = Dictionary(try db.vms(offset: 0, limit: Int.max).map { ($0.vm.id, $0.vm.name) }, uniquingKeysWith: { a, _ in a })
            snapshot.scopes = try db.allDHCPSettings().filter { $0.1.isEnabled }
            for (network, _) in snapshot.scopes {
                snapshot.leaseCounts[network] = try db.leases(of: network).filter { $0.expires > now }.count
            }
            snapshot.readAt = now
            return snapshot
        }
        cached.withLock { $0 = (generation, snapshot) }
        return snapshot
    }
}
