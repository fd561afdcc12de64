import Foundation

/// Host adapters and their Virtual Machine Network Services binding.
public struct AdapterService: Sendable {
    let store: any InventoryStore
    let clock: any Clock
    let dataplane: any DataplaneApplying
    let discovery: any AdapterDiscovering

    public init(store: any InventoryStore, clock: any Clock, dataplane: any DataplaneApplying, discovery: any AdapterDiscovering) {
        self.store = store
        self.clock = clock
        self.dataplane = dataplane
        self.discovery = discovery
    }

    /// Every adapter present now, plus every stored one that is bound or used by a network but
    /// is gone ("adapter not found"), by name.
    public func adapters() throws -> [HostAdapter] {
        let present = discovery.presentAdapters()
        let (bindings, usedNames) = try store.read { db in
            (try db.adapterBindings(), Set(try db.allNetworks().compactMap(\.kind.adapterName)))
        }
        let stored = Dictionary(uniqueKeysWithValues: bindings.map { ($0.name, $0) })
        var adapters = present.map { found in
            HostAdapter(
                name: found.name, mac: found.mac, isUp: found.isUp, hasCarrier: found.hasCarrier,
                speedMbps: found.speedMbps, isWireless: found.isWireless, isPresent: true,
                isBound: stored[found.name]?.isBound ?? false)
        }
        let presentNames = Set(present.map(\.name))
        for binding in bindings where !presentNames.contains(binding.name) && (binding.isBound || usedNames.contains(binding.name)) {
            adapters.append(HostAdapter(
                name: binding.name, mac: binding.mac, isUp: false, hasCarrier: false, speedMbps: nil,
                isWireless: false, isPresent: false, isBound: binding.isBound))
        }
        for name in usedNames where stored[name] == nil && !presentNames.contains(name) {
            adapters.append(HostAdapter(name: name, mac: nil, isUp: false, hasCarrier: false, speedMbps: nil, isWireless: false, isPresent: false, isBound: false))
        }
        return adapters.sorted { $0.name < $1.name }
    }

    /// Names of the adapters present now (no database access).
    public func presentAdapterNames() -> Set<String> {
        Set(discovery.presentAdapters().map(\.name))
    }

    /// Saves the binding check boxes: `bound` names the adapters whose binding is on; every other
    /// listed adapter is off. Turning off an adapter that networks use is refused, naming them,
    /// and then nothing changes.
    public func setBindings(bound: Set<String>) throws {
        let now = clock.now()
        let listed = try adapters()
        let looping = Set(discovery.presentAdapters().filter(\.holdsVnetdPorts).map(\.name))
        let changed: [AdapterBinding] = try store.write { db in
            var problems: [Problem] = []
            var changes: [AdapterBinding] = []
            for adapter in listed {
                let shouldBind = bound.contains(adapter.name)
                guard shouldBind != adapter.isBound else { continue }
                if shouldBind && !adapter.isPresent {
                    problems.append(Problem(.adapterNotFound, field: "adapter-\(adapter.name)", "“\(adapter.name)” is not present on this computer and cannot be bound."))
                    continue
                }
                if shouldBind && looping.contains(adapter.name) {
                    problems.append(Problem(.adapterLoops, field: "adapter-\(adapter.name)",
                        "“\(adapter.name)” is a bridge that holds vnetd's own TAP devices (vnd…): an external network on it would send every frame back into vnetd. Take them out of the bridge first (ip link set vnd… nomaster)."))
                    continue
                }
                if !shouldBind {
                    let users = try db.networks(usingAdapter: adapter.name)
                    if !users.isEmpty {
                        let names = users.map { "“\($0.name)”" }.joined(separator: ", ")
                        problems.append(Problem(
                            .adapterInUse, field: "adapter-\(adapter.name)",
                            "Virtual Machine Network Services stays on for \(adapter.name): \(users.count == 1 ? "network" : "networks") \(names) \(users.count == 1 ? "uses" : "use") it. Bind \(users.count == 1 ? "that network" : "those networks") to another adapter or to None (Guest Only) first."))
                        continue
                    }
                }
                changes.append(AdapterBinding(name: adapter.name, mac: adapter.mac, isBound: shouldBind))
            }
            for name in bound where !listed.contains(where: { $0.name == name }) {
                problems.append(Problem(.adapterNotFound, field: "adapter-\(name)", "There is no host adapter named “\(name)”."))
            }
            guard problems.isEmpty else { throw ValidationFailure(problems) }
            for binding in changes {
                try db.save(binding)
                try db.append(Event(
                    time: now, kind: binding.isBound ? .adapterBound : .adapterUnbound, subject: .adapter(binding.name),
                    message: "Virtual Machine Network Services turned \(binding.isBound ? "on" : "off") for \(binding.name)."))
            }
            return changes
        }
        changed.forEach { dataplane.apply(.adapterBindingChanged($0)) }
    }
}
