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

    static func items(_ dependencies: SiteDependencies, inventory: StoredInventory) throws -> [Item] {
        let stored = try inventory.snapshot(dependencies)
        let (networks, nics, vms, scopes, leases) = (stored.networks, stored.nics, stored.vmNames, stored.scopes, stored.leaseCounts)
        let names = Dictionary(networks.map { ($0.id, $0.name) }, uniquingKeysWith: { a, _ in a })
        // One status read per network (its ports are listed in it), not one per adapter; names
        // and labels only for the few shown.
        var ports: [Item] = []
        var waiting = 0
        var runtimes: [NetworkID: NetworkRuntimeStatus] = [:]
        var listed = Set<NICID>()
        func note(_ nic: VirtualNIC, _ port: PortRuntimeStatus, on network: String) {
            // Cheap tests first: thousands of adapters may be waiting; only the few shown get a label.
            guard !port.isAttached, port.detail != "Not running", port.detail != "Starting…" else { return }
            waiting += 1
            if ports.count < limit {
                let state = PortStates.of(nic: nic, port)
                ports.append(Item(text: "\(vms[nic.vmID] ?? "VM"), \(nic.label) on “\(network)”: \(state.label)", link: "/vms/\(nic.vmID.rawValue)"))
            }
        }
        for network in networks {
            let runtime = dependencies.status.status(of: network.id)
            runtimes[network.id] = runtime
            for port in runtime.ports {
                guard case .nic(let id) = port.kind else { continue }
                listed.insert(id)
                if !port.isAttached, let nic = nics[id], nic.networkID == network.id { note(nic, port, on: network.name) }
            }
        }
        // Connected adapters their switch does not list: no port (it could not be created), or no core running.
        for nic in nics.values where !listed.contains(nic.id) {
            guard let network = nic.networkID else { continue }
            note(nic, dependencies.status.status(of: nic.id), on: names[network] ?? "?")
        }
        if waiting > ports.count { ports.append(Item(text: "\(waiting - ports.count) more ports are not attached", link: "/networks")) }

        var uplinks: [Item] = []
        let present = dependencies.adapters.presentAdapterNames()
        for network in networks {
            guard let adapter = network.kind.adapterName else { continue }
            let runtime = runtimes[network.id] ?? dependencies.status.status(of: network.id)
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
            let exhausted = (runtimes[network] ?? dependencies.status.status(of: network)).dhcp?.exhausted ?? 0
            if exhausted > 0 || (size > 0 && Double(used) >= Double(size) * nearlyFull) {
                let note = exhausted > 0 ? "; \(exhausted) DISCOVER\(exhausted == 1 ? "" : "s") found no free address" : ""
                pools.append(Item(text: "DHCP pool of “\(names[network] ?? "?")”: \(used) of \(size) addresses leased\(note)", link: "/networks/\(network.rawValue)/dhcp"))
            }
        }
        return ports + Array(uplinks.prefix(limit)) + Array(pools.sorted { $0.text < $1.text }.prefix(limit))
    }
}
