import Foundation
import Packets

/// What the Create and Network Settings forms submit.
public struct NetworkDraft: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case guestOnly = "guest", external, host, nat
    }

    public var name: String
    /// nil: "None (Guest Only)".
    public var adapter: String?
    public var notes: String
    /// nil: guest-only or external, as `adapter` says (the forms before host networks).
    public var kind: Kind?
    /// Host and NAT networks, as typed (see `HostNetworkRules`).
    public var host: HostInterfaceDraft

    public init(name: String, adapter: String?, notes: String, kind: Kind? = nil, host: HostInterfaceDraft = HostInterfaceDraft()) {
        self.name = name
        self.adapter = adapter
        self.notes = notes
        self.kind = kind
        self.host = host
    }

    public var effectiveKind: Kind {
        kind ?? ((adapter ?? "").isEmpty ? .guestOnly : .external)
    }
}

/// A network definition as exported and imported (Virtual Server's `.vnc` file).
public struct NetworkDefinition: Sendable, Equatable {
    public var name: String
    public var kind: NetworkKind
    public var notes: String
    /// The DHCP server's settings and reservations, when the network has any.
    public var dhcp: DHCPSettings?
    public var hostInterface: HostInterfaceSettings
    /// Port forwards of a NAT network (`id` and `network` are not carried).
    public var portForwards: [PortForward]

    public init(name: String, kind: NetworkKind, notes: String, dhcp: DHCPSettings? = nil,
                hostInterface: HostInterfaceSettings = HostInterfaceSettings(), portForwards: [PortForward] = []) {
        self.name = name
        self.kind = kind
        self.notes = notes
        self.dhcp = dhcp
        self.hostInterface = hostInterface
        self.portForwards = portForwards
    }
}

/// Creating, changing and removing virtual networks.
public struct NetworkService: Sendable {
    let store: any InventoryStore
    let clock: any Clock
    let dataplane: any DataplaneApplying
    let adapters: any AdapterDiscovering
    let hostNetworks: any HostNetworksReading

    public init(store: any InventoryStore, clock: any Clock, dataplane: any DataplaneApplying, adapters: any AdapterDiscovering,
                hostNetworks: any HostNetworksReading = NoHostNetworks()) {
        self.store = store
        self.clock = clock
        self.dataplane = dataplane
        self.adapters = adapters
        self.hostNetworks = hostNetworks
    }

    /// Creates a network and connects the chosen unconnected NICs to it, in one transaction.
    @discardableResult
    public func create(_ draft: NetworkDraft, connecting nicIDs: [NICID] = [], imported: Bool = false, dhcp: DHCPSettings? = nil,
                       forwards: [PortForward] = []) throws -> VirtualNetwork {
        let now = clock.now()
        let present = Set(adapters.presentAdapters().map(\.name))
        let lans = hostNetworks.ipv4Networks()
        let (network, connected, newScope) = try store.write { db in
            let name = NameRules.normalized(draft.name)
            var problems = NameRules.problems(draft.name) + NotesRules.problems(draft.notes)
            if problems.isEmpty, try db.network(nameKey: NameRules.uniquenessKey(name)) != nil {
                problems.append(Self.nameTaken(name))
            }
            let (kind, host, newScope) = try Self.resolve(draft, current: nil, stored: dhcp, db, present: present, lans: lans, problems: &problems)
            var toConnect: [VirtualNIC] = []
            for id in nicIDs {
                guard let nic = try db.nic(id) else {
                    problems.append(Problem(.nicNotFound, field: "connect", "A network adapter you chose has been removed."))
                    continue
                }
                guard nic.networkID == nil else {
                    problems.append(Problem(.nicBelongsElsewhere, field: "connect", "\(nic.label) of a VM was connected to another network meanwhile; choose again."))
                    continue
                }
                toConnect.append(nic)
            }
            if let dhcp {
                problems += try DHCPService.scopeConflicts(dhcp, of: nil, kind: kind, db: db, hostNetworks: [])
                    .map { Problem($0.code, field: "file", "DHCP settings in the file: \($0.message)") }
            }
            guard problems.isEmpty else { throw ValidationFailure(problems) }

            let id = NetworkID.generate()
            let forwards = forwards.map { PortForward(network: id, proto: $0.proto, hostAddress: $0.hostAddress, hostPort: $0.hostPort, mac: $0.mac, guestPort: $0.guestPort) }
            if !forwards.isEmpty {
                problems += try PortForwardRules.importProblems(forwards, kind: kind, db: db)
                guard problems.isEmpty else { throw ValidationFailure(problems) }
            }
            let network = VirtualNetwork(id: id, name: name, kind: kind, notes: draft.notes, createdAt: now, changedAt: now, hostInterface: host)
            try db.insert(network)
            if var dhcp = dhcp ?? newScope {
                dhcp.version = 1
                try db.save(dhcp, for: network.id)
            }
            for forward in forwards { _ = try db.insert(forward) }
            try db.append(Event(
                time: now, kind: imported ? .networkImported : .networkCreated, subject: .network(network),
                message: "\(imported ? "Imported" : "Created") \(Self.describe(kind)) network “\(name)”."))
            var connected: [VirtualNIC] = []
            for var nic in toConnect {
                nic.networkID = network.id
                try db.update(nic)
                let vm = try Self.touch(nic.vmID, db, now)
                try db.append(Event(time: now, kind: .nicConnected, subject: .vm(vm), message: "\(nic.label) of “\(vm.name)” connected to “\(name)”."))
                connected.append(nic)
            }
            return (network, connected, newScope)
        }
        dataplane.apply(.networkAdded(network))
        if var dhcp = dhcp ?? newScope {
            dhcp.version = 1
            dataplane.apply(.dhcpChanged(network.id, dhcp))
        }
        connected.forEach { dataplane.apply(.nicChanged($0)) }
        return network
    }

    /// Adds a network from a definition file, with the same rules as Create and, for its DHCP
    /// settings and reservations, the same rules as the DHCP Server page.
    @discardableResult
    public func importDefinition(_ definition: NetworkDefinition) throws -> VirtualNetwork {
        var dhcp: DHCPSettings?
        if let settings = definition.dhcp {
            switch DHCPRules.settings(from: DHCPDraft(settings)) {
            case .failure(let failure):
                throw ValidationFailure(failure.problems.map { Problem($0.code, field: "file", "DHCP settings in the file: \($0.message)") })
            case .success(var valid):
                for reservation in settings.reservations {
                    let problems = DHCPRules.reservationProblems(
                        mac: reservation.mac, address: reservation.address, hostName: reservation.hostName, in: valid, besides: valid.reservations)
                    guard problems.isEmpty else {
                        throw ValidationFailure(problems.map {
                            Problem($0.code, field: "file", "The DHCP reservation of \(reservation.address) for \(reservation.mac) in the file: \($0.message)")
                        })
                    }
                    valid.reservations.append(DHCPReservation(
                        mac: reservation.mac, address: reservation.address, hostName: DHCPRules.normalizedHostName(reservation.hostName)))
                }
                dhcp = valid
            }
        }
        return try create(NetworkDraft(definition), imported: true, dhcp: dhcp, forwards: definition.portForwards)
    }

    public func definition(of id: NetworkID) throws -> NetworkDefinition {
        let (network, dhcp) = try store.read { db in (try db.network(id), try db.dhcpSettings(of: id)) }
        guard let network else { throw NotFound("No such virtual network.") }
        let forwards = try store.read { db in try db.portForwards(of: id) }
        return NetworkDefinition(name: network.name, kind: network.kind, notes: network.notes, dhcp: dhcp,
                                 hostInterface: network.hostInterface, portForwards: forwards)
    }

    /// Saves the Network Settings form. `version` is the version the form was rendered from: if the
    /// network changed since, nothing is saved and `staleEdit` is reported.
    @discardableResult
    public func update(
        _ id: NetworkID, version: Int, _ draft: NetworkDraft, connecting: [NICID] = [], disconnecting: [NICID] = []
    ) throws -> VirtualNetwork {
        let now = clock.now()
        let present = Set(adapters.presentAdapters().map(\.name))
        let lans = hostNetworks.ipv4Networks()
        let (network, changedNICs, newScope) = try store.write { db in
            guard let current = try db.network(id) else { throw NotFound("No such virtual network.") }
            guard current.version == version else {
                throw ValidationFailure(.staleEdit, "This network was changed by someone else since you opened the form. The form now shows the current settings; make your changes again.")
            }
            let name = NameRules.normalized(draft.name)
            var problems = NameRules.problems(draft.name) + NotesRules.problems(draft.notes)
            if problems.isEmpty, let other = try db.network(nameKey: NameRules.uniquenessKey(name)), other.id != id {
                problems.append(Self.nameTaken(name))
            }
            let (kind, host, newScope) = try Self.resolve(draft, current: current, stored: try db.dhcpSettings(of: id), db, present: present, lans: lans, problems: &problems)
            var changes: [(VirtualNIC, EventKind, String)] = []
            for nicID in disconnecting {
                guard var nic = try db.nic(nicID), nic.networkID == id else { continue }
                nic.networkID = nil
                changes.append((nic, .nicDisconnected, "disconnected from “\(name)”"))
            }
            for nicID in connecting {
                guard let nic = try db.nic(nicID) else {
                    problems.append(Problem(.nicNotFound, field: "connect", "A network adapter you chose has been removed."))
                    continue
                }
                if nic.networkID == id { continue }
                guard nic.networkID == nil else {
                    problems.append(Problem(.nicBelongsElsewhere, field: "connect", "\(nic.label) of a VM was connected to another network meanwhile; choose again."))
                    continue
                }
                var connected = nic
                connected.networkID = id
                changes.append((connected, .nicConnected, "connected to “\(name)”"))
            }
            guard problems.isEmpty else { throw ValidationFailure(problems) }

            var updated = current
            updated.name = name
            updated.kind = kind
            updated.hostInterface = host
            updated.notes = draft.notes
            updated.changedAt = now
            updated.version = current.version + 1
            guard try db.update(updated) else {
                throw ValidationFailure(.staleEdit, "This network was changed by someone else since you opened the form. The form now shows the current settings; make your changes again.")
            }
            let what = Self.differences(current, updated)
            if !what.isEmpty {
                try db.append(Event(time: now, kind: .networkChanged, subject: .network(updated), message: what.joined(separator: " ")))
            }
            if var scope = newScope {
                scope.version = 1
                try db.save(scope, for: id)
            }
            for (nic, kind, verb) in changes {
                try db.update(nic)
                let vm = try Self.touch(nic.vmID, db, now)
                try db.append(Event(time: now, kind: kind, subject: .vm(vm), message: "\(nic.label) of “\(vm.name)” \(verb)."))
            }
            return (updated, changes.map(\.0), newScope)
        }
        dataplane.apply(.networkChanged(network))
        if var scope = newScope {
            scope.version = 1
            dataplane.apply(.dhcpChanged(network.id, scope))
        }
        changedNICs.forEach { dataplane.apply(.nicChanged($0)) }
        return network
    }

    /// Removes a network after disconnecting every NIC on it. Returns the NICs it disconnected.
    @discardableResult
    public func remove(_ id: NetworkID) throws -> [NICListing] {
        let now = clock.now()
        let disconnected: [NICListing] = try store.write { db in
            guard let network = try db.network(id) else { throw NotFound("No such virtual network.") }
            let nics = try db.nics(on: id)
            for listing in nics {
                var nic = listing.nic
                nic.networkID = nil
                try db.update(nic)
                let vm = try Self.touch(nic.vmID, db, now)
                try db.append(Event(time: now, kind: .nicDisconnected, subject: .vm(vm), message: "\(nic.label) of “\(vm.name)” disconnected: network “\(network.name)” is being removed."))
            }
            try db.delete(id)
            try db.append(Event(
                time: now, kind: .networkRemoved, subject: EventSubject(kind: .network, name: network.name),
                message: "Removed network “\(network.name)”\(nics.isEmpty ? "" : "; \(nics.count) network adapter\(nics.count == 1 ? "" : "s") disconnected")."))
            return nics
        }
        disconnected.forEach {
            var nic = $0.nic
            nic.networkID = nil
            dataplane.apply(.nicChanged(nic))
        }
        dataplane.apply(.networkRemoved(id))
        return disconnected
    }

    // MARK: rules shared by create and update

    static func nameTaken(_ name: String) -> Problem {
        Problem(.nameTaken, field: "name", "A network named “\(name)” already exists. Network names must differ in more than case.")
    }

    /// The kind and host interface a draft asks for; for a network becoming a host or NAT network
    /// without stored DHCP settings, also the scope to store (a free /24, its server on): the host's
    /// address and the VMs' addresses come from it.
    static func resolve(_ draft: NetworkDraft, current: VirtualNetwork?, stored: DHCPSettings?, _ db: any InventoryReader, present: Set<String>,
                        lans: [(network: IPv4Address, mask: IPv4Address)], problems: inout [Problem]) throws -> (NetworkKind, HostInterfaceSettings, DHCPSettings?) {
        switch draft.effectiveKind {
        case .guestOnly:
            return (.guestOnly, current?.hostInterface ?? HostInterfaceSettings(), nil)
        case .external:
            let kind = try Self.kind(for: draft.adapter, current: current?.kind, db, present: present, problems: &problems)
            return (kind, current?.hostInterface ?? HostInterfaceSettings(), nil)
        case .host, .nat:
            var fresh: DHCPSettings?
            if stored == nil {
                var scope = DHCPSettings.defaults(for: try DHCPService.freeNetwork(db, hostNetworks: lans))
                scope.isEnabled = true
                fresh = scope
            }
            guard let scope = stored ?? fresh else { return (.guestOnly, HostInterfaceSettings(), nil) }
            let (kind, host) = HostNetworkRules.resolve(draft, current: current, scope: scope, present: present, problems: &problems)
            return (kind, host, fresh)
        }
    }

    /// The kind a draft asks for. A new adapter must be present and bound; keeping the adapter a
    /// network already has is always allowed, even when that adapter is missing now.
    static func kind(for adapter: String?, current: NetworkKind?, _ db: any InventoryReader, present: Set<String>, problems: inout [Problem]) throws -> NetworkKind {
        guard let adapter, !adapter.isEmpty else { return .guestOnly }
        if current?.adapterName == adapter { return .external(adapter: adapter) }
        guard present.contains(adapter) else {
            problems.append(Problem(.adapterNotFound, field: "adapter", "There is no host adapter named “\(adapter)” on this computer."))
            return .guestOnly
        }
        guard try db.adapterBinding(adapter)?.isBound == true else {
            problems.append(Problem(.adapterNotBound, field: "adapter", "Virtual Machine Network Services is off for “\(adapter)”. Turn it on under Host Adapters first."))
            return .guestOnly
        }
        // One external network per adapter: two would be one LAN segment under two names, each
        // flooding the other's traffic. A separate segment on the same wire is a VLAN interface.
        if let other = try db.networks(usingAdapter: adapter).first {
            problems.append(Problem(.adapterTaken, field: "adapter",
                "“\(adapter)” already carries the external network “\(other.name)”. Connect these VMs to “\(other.name)”, or bind a VLAN interface of the adapter (for example \(adapter).10) for a separate segment."))
            return .guestOnly
        }
        return .external(adapter: adapter)
    }

    static func describe(_ kind: NetworkKind) -> String {
        switch kind {
        case .guestOnly: "a guest-only"
        case .external(let adapter): "an external (\(adapter))"
        case .host: "a host-and-guests"
        case .nat(let outbound): "a NAT (\(outbound ?? "default route"))"
        }
    }

    static func label(_ kind: NetworkKind) -> String {
        switch kind {
        case .guestOnly: "None (Guest Only)"
        case .external(let adapter): "host adapter \(adapter)"
        case .host: "Host and guests"
        case .nat(let outbound): "NAT through \(outbound ?? "the default route's interface")"
        }
    }

    static func differences(_ old: VirtualNetwork, _ new: VirtualNetwork) -> [String] {
        var what: [String] = []
        if old.name != new.name { what.append("Renamed “\(old.name)” to “\(new.name)”.") }
        if old.kind != new.kind {
            what.append(new.kind.adapterName != nil || old.kind.adapterName != nil && new.kind == .guestOnly
                ? "“\(new.name)” now bound to \(label(new.kind))." : "“\(new.name)” is now \(label(new.kind)).")
        }
        if old.hostInterface.address != new.hostInterface.address {
            what.append("Host address of “\(new.name)” now \(new.hostInterface.address.map(\.description) ?? "the DHCP scope's first host address").")
        }
        if old.hostInterface.ipv6Prefix != new.hostInterface.ipv6Prefix {
            what.append("IPv6 of “\(new.name)”: \(new.hostInterface.ipv6Prefix.map(\.description) ?? "off").")
        }
        if old.notes != new.notes { what.append("Notes of “\(new.name)” changed.") }
        return what
    }

    /// Raises a VM's version because its NICs changed, so a stale NIC form is refused.
    static func touch(_ vmID: VMID, _ db: any InventoryWriter, _ now: Date) throws -> VirtualMachine {
        guard var vm = try db.vm(vmID) else { throw NotFound("No such virtual machine.") }
        vm.version += 1
        vm.changedAt = now
        guard try db.update(vm) else { throw ValidationFailure(.staleEdit, "The virtual machine changed meanwhile; try again.") }
        return vm
    }
}

extension NetworkDraft {
    /// The draft an imported definition makes: the same rules as the Create page then apply.
    public init(_ definition: NetworkDefinition) {
        let kind: Kind = switch definition.kind {
        case .guestOnly: .guestOnly
        case .external: .external
        case .host: .host
        case .nat: .nat
        }
        self.init(name: definition.name, adapter: definition.kind.adapterName, notes: definition.notes, kind: kind,
                  host: HostInterfaceDraft(definition.hostInterface, kind: definition.kind))
    }
}
