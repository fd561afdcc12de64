import Foundation
import Packets

/// What the Network Adapters form submits for one NIC.
public struct NICSetting: Sendable, Equatable {
    public var nicID: NICID
    /// nil: "Not connected".
    public var networkID: NetworkID?
    public var assignment: MACAssignment
    /// The typed address when `assignment` is `.static`.
    public var staticMAC: String
    public var backend: NICBackend
    public var allowsMACSpoofing: Bool

    public init(nicID: NICID, networkID: NetworkID?, assignment: MACAssignment, staticMAC: String = "", backend: NICBackend = .socket,
                allowsMACSpoofing: Bool = false) {
        self.nicID = nicID
        self.networkID = networkID
        self.assignment = assignment
        self.staticMAC = staticMAC
        self.backend = backend
        self.allowsMACSpoofing = allowsMACSpoofing
    }
}

/// Virtual machines and their network adapters.
public struct VirtualMachineService: Sendable {
    let store: any InventoryStore
    let clock: any Clock
    let dataplane: any DataplaneApplying
    let random: any RandomSource

    public init(store: any InventoryStore, clock: any Clock, dataplane: any DataplaneApplying, random: any RandomSource = SystemRandomSource()) {
        self.store = store
        self.clock = clock
        self.dataplane = dataplane
        self.random = random
    }

    /// Creates a VM with one network adapter, connected to `network` when given (else not connected).
    @discardableResult
    public func create(name rawName: String, notes: String, connectingTo network: NetworkID? = nil) throws -> VirtualMachine {
        let now = clock.now()
        let (vm, nic) = try store.write { db in
            let name = NameRules.normalized(rawName)
            var problems = NameRules.problems(rawName) + NotesRules.problems(notes)
            if problems.isEmpty, try db.vm(nameKey: NameRules.uniquenessKey(name)) != nil {
                problems.append(Self.nameTaken(name))
            }
            var networkName: String?
            if let network {
                networkName = try db.network(network)?.name
                if networkName == nil {
                    problems.append(Problem(.networkNotFound, field: "network", "The network you chose has been removed."))
                }
            }
            guard problems.isEmpty else { throw ValidationFailure(problems) }
            let vm = VirtualMachine(id: .generate(), name: name, notes: notes, createdAt: now, changedAt: now)
            try db.insert(vm)
            let nic = VirtualNIC(
                id: .generate(), vmID: vm.id, slot: 1, networkID: network, assignment: .dynamic,
                mac: try Self.allocateDynamicMAC(db, random: random, excluding: []))
            try db.insert(nic)
            let where_ = networkName.map { "connected to “\($0)”" } ?? "not connected"
            try db.append(Event(time: now, kind: .vmCreated, subject: .vm(vm), message: "Created virtual machine “\(name)” with one network adapter (\(nic.mac), \(where_))."))
            return (vm, nic)
        }
        dataplane.apply(.vmRenamed(vm.id, vm.name))
        dataplane.apply(.nicAdded(nic))
        return vm
    }

    /// Renames a VM or changes its notes, refusing a save from a stale form.
    @discardableResult
    public func update(_ id: VMID, version: Int, name rawName: String, notes: String) throws -> VirtualMachine {
        let now = clock.now()
        let vm: VirtualMachine = try store.write { db in
            guard let current = try db.vm(id) else { throw NotFound("No such virtual machine.") }
            guard current.version == version else { throw Self.stale }
            let name = NameRules.normalized(rawName)
            var problems = NameRules.problems(rawName) + NotesRules.problems(notes)
            if problems.isEmpty, let other = try db.vm(nameKey: NameRules.uniquenessKey(name)), other.id != id {
                problems.append(Self.nameTaken(name))
            }
            guard problems.isEmpty else { throw ValidationFailure(problems) }
            var updated = current
            updated.name = name
            updated.notes = notes
            updated.version += 1
            updated.changedAt = now
            guard try db.update(updated) else { throw Self.stale }
            var what: [String] = []
            if current.name != name { what.append("Renamed “\(current.name)” to “\(name)”.") }
            if current.notes != notes { what.append("Notes of “\(name)” changed.") }
            if !what.isEmpty {
                try db.append(Event(time: now, kind: .vmChanged, subject: .vm(updated), message: what.joined(separator: " ")))
            }
            return updated
        }
        dataplane.apply(.vmRenamed(vm.id, vm.name))
        return vm
    }

    /// Removes a VM and its network adapters.
    public func remove(_ id: VMID) throws {
        let now = clock.now()
        let nics: [VirtualNIC] = try store.write { db in
            guard let vm = try db.vm(id) else { throw NotFound("No such virtual machine.") }
            let nics = try db.nics(of: id)
            for nic in nics { try db.deleteLeases(of: nic.mac) }
            try db.delete(id)
            try db.append(Event(
                time: now, kind: .vmRemoved, subject: EventSubject(kind: .virtualMachine, name: vm.name),
                message: "Removed virtual machine “\(vm.name)” and its \(nics.count) network adapter\(nics.count == 1 ? "" : "s")."))
            return nics
        }
        nics.forEach { dataplane.apply(.nicRemoved($0.id)) }
    }

    /// Adds a network adapter in the lowest free slot: not connected, dynamic MAC.
    @discardableResult
    public func addNIC(to id: VMID, version: Int) throws -> VirtualNIC {
        let now = clock.now()
        let nic: VirtualNIC = try store.write { db in
            guard let vm = try db.vm(id) else { throw NotFound("No such virtual machine.") }
            guard vm.version == version else { throw Self.stale }
            let used = Set(try db.nics(of: id).map(\.slot))
            guard let slot = (1...MACRules.maximumNICsPerVM).first(where: { !used.contains($0) }) else {
                throw ValidationFailure(.tooManyNICs, "A virtual machine can have at most \(MACRules.maximumNICsPerVM) network adapters.")
            }
            let nic = VirtualNIC(
                id: .generate(), vmID: id, slot: slot, networkID: nil, assignment: .dynamic,
                mac: try Self.allocateDynamicMAC(db, random: random, excluding: []))
            try db.insert(nic)
            let touched = try NetworkService.touch(id, db, now)
            try db.append(Event(time: now, kind: .nicAdded, subject: .vm(touched), message: "Added \(nic.label) (\(nic.mac)) to “\(vm.name)”."))
            return nic
        }
        dataplane.apply(.nicAdded(nic))
        return nic
    }

    public func removeNIC(_ nicID: NICID, of id: VMID, version: Int) throws {
        let now = clock.now()
        try store.write { db in
            guard let vm = try db.vm(id) else { throw NotFound("No such virtual machine.") }
            guard vm.version == version else { throw Self.stale }
            guard let nic = try db.nic(nicID), nic.vmID == id else { throw NotFound("No such network adapter.") }
            try db.deleteLeases(of: nic.mac)
            try db.delete(nicID)
            let touched = try NetworkService.touch(id, db, now)
            try db.append(Event(time: now, kind: .nicRemoved, subject: .vm(touched), message: "Removed \(nic.label) (\(nic.mac)) from “\(vm.name)”."))
        }
        dataplane.apply(.nicRemoved(nicID))
    }

    /// Applies the Network Adapters form: connection, MAC assignment and backend of every NIC, all
    /// or nothing. A NIC moved to another network keeps its port; only its switch changes.
    /// Every saved adapter is handed to the dataplane, changed or not: saving again is how an
    /// administrator asks for a lost port (a TAP whose namespace was deleted) to be recreated.
    @discardableResult
    public func configureNICs(of id: VMID, version: Int, _ settings: [NICSetting]) throws -> [VirtualNIC] {
        let now = clock.now()
        let (changed, saved): ([VirtualNIC], [VirtualNIC]) = try store.write { db in
            guard let vm = try db.vm(id) else { throw NotFound("No such virtual machine.") }
            guard vm.version == version else { throw Self.stale }
            let current = Dictionary(uniqueKeysWithValues: try db.nics(of: id).map { ($0.id, $0) })
            var problems: [Problem] = []
            var planned: [VirtualNIC] = []
            var claimed: [MACAddress: Int] = [:]

            for setting in settings {
                guard let nic = current[setting.nicID] else { throw NotFound("No such network adapter.") }
                let field = "nic-\(nic.slot)"
                var next = nic
                next.backend = setting.backend
                next.allowsMACSpoofing = setting.allowsMACSpoofing
                if let networkID = setting.networkID, networkID != nic.networkID {
                    guard try db.network(networkID) != nil else {
                        problems.append(Problem(.networkNotFound, field: "\(field)-network", "The network chosen for \(nic.label) has been removed."))
                        continue
                    }
                }
                next.networkID = setting.networkID
                switch setting.assignment {
                case .static:
                    switch MACRules.staticAddress(setting.staticMAC, field: "\(field)-mac") {
                    case .failure(let failure):
                        problems += failure.problems
                        continue
                    case .success(let mac):
                        next.assignment = .static
                        next.mac = mac
                    }
                case .dynamic:
                    next.assignment = .dynamic
                    if nic.assignment == .static || nic.mac.prefix != MACRules.dynamicPrefix {
                        next.mac = try Self.allocateDynamicMAC(db, random: random, excluding: Set(claimed.keys))
                    }
                }
                if let other = claimed[next.mac] {
                    problems.append(Problem(.macInUse, field: "\(field)-mac", "\(next.mac.formatted(separator: "-", uppercase: true)) is also chosen for Virtual network adapter \(other)."))
                    continue
                }
                claimed[next.mac] = nic.slot
                if next.mac != nic.mac, let owner = try db.nic(using: next.mac), owner.nic.id != nic.id, current[owner.nic.id] == nil {
                    problems.append(Problem(.macInUse, field: "\(field)-mac", "\(next.mac.formatted(separator: "-", uppercase: true)) is already used by \(owner.nic.label) of “\(owner.vmName)”."))
                    continue
                }
                planned.append(next)
            }
            // An address given up by one NIC of this VM and taken by another in the same save is fine;
            // one kept by a NIC not in this save is not.
            for nic in current.values where !settings.contains(where: { $0.nicID == nic.id }) {
                if let slot = claimed[nic.mac] {
                    problems.append(Problem(.macInUse, field: "nic-\(slot)-mac", "\(nic.mac.formatted(separator: "-", uppercase: true)) is already used by \(nic.label) of “\(vm.name)”."))
                }
            }
            guard problems.isEmpty else { throw ValidationFailure(problems) }

            let changes = planned.filter { current[$0.id] != $0 }
            guard !changes.isEmpty else { return ([], planned) }
            let networkNames = Dictionary(uniqueKeysWithValues: try db.allNetworks().map { ($0.id, $0.name) })
            // Free every changed address first, so two NICs may swap addresses within one save.
            for nic in changes where current[nic.id]?.mac != nic.mac {
                guard var parked = current[nic.id] else { continue }
                // A multicast placeholder: no NIC can hold one, so it never collides.
                parked.mac = MACAddress(value: 0x0300_0000_0000 | UInt64(parked.slot))
                try db.update(parked)
            }
            for nic in changes {
                try db.update(nic)
                guard let before = current[nic.id] else { continue }
                for message in Self.describeChange(before, nic, networkNames) {
                    try db.append(Event(time: now, kind: message.0, subject: .vm(vm), message: "\(nic.label) of “\(vm.name)” \(message.1)."))
                }
            }
            _ = try NetworkService.touch(id, db, now)
            return (changes, planned)
        }
        saved.forEach { dataplane.apply(.nicChanged($0)) }
        return changed
    }

    static func describeChange(_ before: VirtualNIC, _ after: VirtualNIC, _ names: [NetworkID: String]) -> [(EventKind, String)] {
        var messages: [(EventKind, String)] = []
        switch (before.networkID, after.networkID) {
        case (nil, let new?): messages.append((.nicConnected, "connected to “\(names[new] ?? "?")”"))
        case (let old?, nil): messages.append((.nicDisconnected, "disconnected from “\(names[old] ?? "?")”"))
        case (let old?, let new?) where old != new:
            messages.append((.nicMoved, "moved from “\(names[old] ?? "?")” to “\(names[new] ?? "?")”"))
        default: break
        }
        if before.mac != after.mac || before.assignment != after.assignment {
            let how = after.assignment == .static ? "static" : "dynamic"
            messages.append((.nicAddressChanged, "now uses the \(how) address \(after.mac)"))
        }
        if before.backend != after.backend {
            let how = switch after.backend {
            case .tap: "a TAP device"
            case .vhostUser: "a vhost-user socket"
            case .socket: "a QEMU stream socket"
            case .datagram: "a QEMU datagram socket"
            }
            messages.append((.nicAddressChanged, "now attaches as \(how)"))
        }
        if before.allowsMACSpoofing != after.allowsMACSpoofing {
            messages.append((.nicAddressChanged, after.allowsMACSpoofing
                ? "may now send from other MAC addresses (MAC address spoofing allowed)"
                : "may now send only from its own MAC address"))
        }
        return messages
    }

    static let stale = ValidationFailure(
        .staleEdit, "This virtual machine was changed by someone else since you opened the form. The form now shows the current settings; make your changes again.")

    static func nameTaken(_ name: String) -> Problem {
        Problem(.nameTaken, field: "name", "A virtual machine named “\(name)” already exists. Names must differ in more than case.")
    }

    /// A random address under 00:03:FF that no NIC uses and `excluding` does not hold.
    static func allocateDynamicMAC(_ db: any InventoryReader, random: any RandomSource, excluding: Set<MACAddress>) throws -> MACAddress {
        for _ in 0..<256 {
            let suffix = random.next24Bits() & 0xFF_FFFF
            guard suffix != 0, suffix != 0xFF_FFFF else { continue }
            let mac = MACAddress(value: UInt64(MACRules.dynamicPrefix) << 24 | UInt64(suffix))
            if excluding.contains(mac) { continue }
            if try db.nic(using: mac) == nil { return mac }
        }
        throw ValidationFailure(.macPoolExhausted, "No free dynamic MAC address could be found under 00-03-FF.")
    }
}
