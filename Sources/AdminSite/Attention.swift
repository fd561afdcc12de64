import Domain
import Foundation

/// What needs the administrator on Master Status: ports waiting for their VM or broken, uplinks
/// down or adapters missing, DHCP pools nearly full or exhausted. Each item links to its page.
enum Attention {
    /// Items shown per kind; the rest are counted.
    static let limit = 10
    /// A pool with at least this share of its addresses leased is nearly full.
    static let nearlyFull = 0.9

    struct Item: Equatable {
        var text: String
        var link: String
    }

    static func items(_ dependencies: SiteDependencies) throws -> [Item] {
        let now = dependencies.clock.now()
        let (networks, nics, vms, scopes, leases) = try dependencies.store.read { db in
            let networks = try db.allNetworks()
            let scopes = try db.allDHCPSettings().filter { $0.1.isEnabled }
            var leases: [NetworkID: Int] = [:]
            for (network, _) in scopes { leases[network] = try db.leases(of: network).filter { $0.expires > now }.count }
            let vms = Dictionary(try db.vms(offset: 0, limit: Int.max).map { ($0.vm.id, $0.vm.name) }, uniquingKeysWith: { a, _ in a })
            return (networks, try db.allNICs(), vms, scopes, leases)
        }
        let names = Dictionary(networks.map { ($0.id, $0.name) }, uniquingKeysWith: { a, _ in a })
        var ports: [Item] = []
        var waiting = 0
        for nic in nics {
            guard let network = nic.networkID else { continue }
            let state = PortStates.of(nic: nic, dependencies.status.status(of: nic.id))
            guard state.label != "Attached", state.label != "Not running", state.label != "Starting" else { continue }
            waiting += 1
            if ports.count < limit {
                ports.append(Item(text: "\(vms[nic.vmID] ?? "VM"), \(nic.label) on “\(names[network] ?? "?")”: \(state.label)", link: "/vms/\(nic.vmID.rawValue)"))
            }
        }
        if waiting > ports.count { ports.append(Item(text: "\(waiting - ports.count) more ports are not attached", link: "/networks")) }

        var uplinks: [Item] = []
        let present = dependencies.adapters.presentAdapterNames()
        for network in networks {
            guard let adapter = network.kind.adapterName else { continue }
            let runtime = dependencies.status.status(of: network.id)
            let down = runtime.ports.contains { port in
                if case .uplink = port.kind { return !port.isAttached }
                return false
            }
            if !present.contains(adapter) {
                uplinks.append(Item(text: "“\(network.name)”: host adapter \(adapter) not found", link: "/networks/\(network.id.rawValue)"))
            } else if down {
                uplinks.append(Item(text: "“\(network.name)”: uplink to \(adapter) is down", link: "/networks/\(network.id.rawValue)"))
            }
        }

        var pools: [Item] = []
        for (network, settings) in scopes {
            let size = Int(settings.rangeEnd.value) - Int(settings.rangeStart.value) + 1
            let used = leases[network] ?? 0
            let exhausted = dependencies.status.status(of: network).dhcp?.exhausted ?? 0
            if exhausted > 0 || (size > 0 && Double(used) >= Double(size) * nearlyFull) {
                let note = exhausted > 0 ? "; \(exhausted) DISCOVER\(exhausted == 1 ? "" : "s") found no free address" : ""
                pools.append(Item(text: "DHCP pool of “\(names[network] ?? "?")”: \(used) of \(size) addresses leased\(note)", link: "/networks/\(network.rawValue)/dhcp"))
            }
        }
        return ports + Array(uplinks.prefix(limit)) + Array(pools.sorted { $0.text < $1.text }.prefix(limit))
    }
}
