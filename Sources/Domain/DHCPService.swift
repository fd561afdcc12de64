import Foundation
import Packets

/// IPv4 networks the host itself is on, so a new virtual network's DHCP defaults avoid them.
public protocol HostNetworksReading: Sendable {
    func ipv4Networks() -> [(network: IPv4Address, mask: IPv4Address)]
}

public struct NoHostNetworks: HostNetworksReading {
    public init() {}
    public func ipv4Networks() -> [(network: IPv4Address, mask: IPv4Address)] { [] }
}

/// A network's DHCP Server page: settings and reservations.
public struct DHCPService: Sendable {
    let store: any InventoryStore
    let clock: any Clock
    let dataplane: any DataplaneApplying
    let hostNetworks: any HostNetworksReading

    public init(store: any InventoryStore, clock: any Clock, dataplane: any DataplaneApplying, hostNetworks: any HostNetworksReading) {
        self.store = store
        self.clock = clock
        self.dataplane = dataplane
        self.hostNetworks = hostNetworks
    }

    /// The stored settings, or (version 0, disabled) a /24 that overlaps neither a network the
    /// host is on nor another virtual network's DHCP network.
    public func settings(of network: NetworkID) throws -> DHCPSettings {
        try store.read { db in
            guard try db.network(network) != nil else { throw NotFound("No such virtual network.") }
            if let stored = try db.dhcpSettings(of: network) { return stored }
            return DHCPSettings.defaults(for: try Self.freeNetwork(db, hostNetworks: hostNetworks.ipv4Networks()))
        }
    }

    static func freeNetwork(_ db: any InventoryReader, hostNetworks: [(network: IPv4Address, mask: IPv4Address)]) throws -> IPv4Address {
        let taken = try db.allDHCPSettings().map { ($0.1.network, $0.1.mask) } + hostNetworks
        let candidates = (131...254).map { IPv4Address(192, 168, UInt8($0), 0) } + (0...255).map { IPv4Address(10, 131, UInt8($0), 0) }
        for candidate in candidates {
            let probe = DHCPSettings.defaults(for: candidate)
            if !taken.contains(where: { probe.overlaps(network: $0.0, mask: $0.1) }) { return candidate }
        }
        return IPv4Address(192, 168, 131, 0)
    }

    /// Saves the form; `version` is the version the form showed. When the new scope leaves
    /// reservations or live leases behind, `decisions` says what becomes of each; nil asks first
    /// (throws `ScopeChangeNeedsConfirmation`). The event names every one of them.
    @discardableResult
    public func update(_ network: NetworkID, version: Int, _ draft: DHCPDraft, decisions: ScopeDecisions? = .keepAll) throws -> DHCPSettings {
        var settings: DHCPSettings
        switch DHCPRules.settings(from: draft) {
        case .failure(let failure): throw failure
        case .success(let parsed): settings = parsed
        }
        let now = clock.now()
        let host = hostNetworks.ipv4Networks()
        let saved: (DHCPSettings, [IPv4Address]) = try store.write { db in
            guard let owner = try db.network(network) else { throw NotFound("No such virtual network.") }
            let current = try db.dhcpSettings(of: network)
            guard (current?.version ?? 0) == version else { throw Self.stale }
            let conflicts = try Self.scopeConflicts(settings, of: network, kind: owner.kind, db: db, hostNetworks: host)
            guard conflicts.isEmpty else { throw ValidationFailure(conflicts) }
            settings.reservations = current?.reservations ?? []
            let change = ScopeChange.between(current, settings, leases: try db.leases(of: network), now: now)
            guard let decisions = decisions ?? (change.isEmpty ? .keepAll : nil) else {
                throw ScopeChangeNeedsConfirmation(change: change, settings: settings)
            }
            var notes: [String] = []
            for moved in change.reservations {
                let old = moved.reservation
                if let target = decisions.renumber[old.mac] {
                    let others = settings.reservations.filter { $0.mac != old.mac }
                    let problems = DHCPRules.reservationProblems(mac: old.mac, address: target, hostName: old.hostName, in: settings, besides: others)
                    guard problems.isEmpty else {
                        throw ValidationFailure(problems.map { Problem($0.code, field: "scope", "Renumbering \(old.address) for \(old.mac): \($0.message)") })
                    }
                    settings.reservations = others + [DHCPReservation(mac: old.mac, address: target, hostName: old.hostName)]
                    notes.append("reservation of \(old.address) for \(old.mac) renumbered to \(target)")
                } else {
                    notes.append("reservation of \(old.address) for \(old.mac) kept outside the network (not handed out)")
                }
            }
            settings.reservations.sort { $0.address < $1.address }
            var released: [IPv4Address] = []
            for lease in change.leases {
                if decisions.release.contains(lease.address), try db.expireLease(of: network, address: lease.address, at: now) != nil {
                    released.append(lease.address)
                    notes.append("lease of \(lease.address) (\(lease.mac)) released")
                } else {
                    notes.append("lease of \(lease.address) (\(lease.mac)) kept until its client renews")
                }
            }
            settings.version = version + 1
            try db.save(settings, for: network)
            var what: String
            // A network without stored settings had its server off (the page shows the defaults).
            let before = current ?? DHCPSettings.defaults(for: settings.network)
            let changed = DHCPChangeDescription.changes(from: before, to: settings)
            let detail = changed.isEmpty ? "" : " Changed: " + changed.joined(separator: "; ") + "."
            if before.isEnabled != settings.isEnabled {
                what = settings.isEnabled
                    ? "DHCP server of “\(owner.name)” turned on: \(settings.rangeStart)–\(settings.rangeEnd), server \(settings.server)."
                    : "DHCP server of “\(owner.name)” turned off." + detail
            } else {
                what = "DHCP settings of “\(owner.name)” saved." + (changed.isEmpty ? " Nothing changed." : detail)
            }
            if !notes.isEmpty {
                let named = notes.prefix(Self.namedInEvent).joined(separator: "; ")
                let more = notes.count > Self.namedInEvent ? "; and \(notes.count - Self.namedInEvent) more" : ""
                what += " Outside the new scope: " + named + more + "."
            }
            try db.append(Event(time: now, kind: .dhcpChanged, subject: .network(owner), message: what))
            return (settings, released)
        }
        dataplane.apply(.dhcpChanged(network, saved.0))
        for address in saved.1 { dataplane.apply(.leaseReleased(network, address)) }
        return saved.0
    }

    /// The LAN the host is on that `settings` overlaps, if any: refused on a guest-only network,
    /// a warning on an external one (whose guests share that LAN with the host's neighbours).
    public func hostLAN(overlapping settings: DHCPSettings) -> (network: IPv4Address, mask: IPv4Address)? {
        hostNetworks.ipv4Networks().first { settings.overlaps(network: $0.network, mask: $0.mask) }
    }

    /// A scope that an enabled server must not have: one overlapping a LAN the host is on
    /// (except on an external network, whose guests are on that LAN by design), or the scope of
    /// another network whose server is on. Import applies the same rule (`hostNetworks` empty).
    public static func scopeConflicts(_ settings: DHCPSettings, of network: NetworkID?, kind: NetworkKind, db: any InventoryReader,
                                      hostNetworks: [(network: IPv4Address, mask: IPv4Address)]) throws -> [Problem] {
        guard settings.isEnabled else { return [] }
        var problems: [Problem] = []
        let scope = "\(settings.network)/\(settings.prefixLength)"
        if kind.adapterName == nil, let lan = hostNetworks.first(where: { settings.overlaps(network: $0.network, mask: $0.mask) }) {
            let what = lan.network == settings.network && lan.mask == settings.mask ? "is" : "overlaps"
            problems.append(Problem(.dhcpInvalid, field: "network", "\(scope) \(what) a LAN the host is on (\(lan.network)/\(lan.mask.value.nonzeroBitCount)): guests would take addresses of the host's neighbours. Choose another network."))
        }
        for (other, otherSettings) in try db.allDHCPSettings() where other != network && otherSettings.isEnabled
            && settings.overlaps(network: otherSettings.network, mask: otherSettings.mask) {
            let name = try db.network(other)?.name ?? other.rawValue
            problems.append(Problem(.dhcpInvalid, field: "network", "\(scope) overlaps the DHCP scope of “\(name)” (\(otherSettings.network)/\(otherSettings.prefixLength)), whose server is on. Choose another network or turn that server off."))
        }
        return problems
    }

    /// Adds a reservation: `mac` always gets `address` from this network's server.
    @discardableResult
    public func addReservation(to network: NetworkID, version: Int, mac macText: String, address addressText: String, hostName: String) throws -> DHCPSettings {
        let now = clock.now()
        let saved: DHCPSettings = try store.write { db in
            guard let owner = try db.network(network) else { throw NotFound("No such virtual network.") }
            var settings = try db.dhcpSettings(of: network) ?? DHCPSettings.defaults(for: try Self.freeNetwork(db, hostNetworks: hostNetworks.ipv4Networks()))
            guard settings.version == version else { throw Self.stale }
            let mac = MACAddress(parsing: macText.trimmingCharacters(in: .whitespaces))
            let address = IPv4Address(parsing: addressText.trimmingCharacters(in: .whitespaces))
            let problems = DHCPRules.reservationProblems(mac: mac, address: address, hostName: hostName, in: settings, besides: settings.reservations)
            guard problems.isEmpty, let mac, let address else { throw ValidationFailure(problems) }
            settings.reservations.append(DHCPReservation(mac: mac, address: address, hostName: DHCPRules.normalizedHostName(hostName)))
            settings.version += 1
            try db.save(settings, for: network)
            try db.append(Event(time: now, kind: .dhcpChanged, subject: .network(owner), message: "Reserved \(address) for \(mac) on “\(owner.name)”."))
            return settings
        }
        dataplane.apply(.dhcpChanged(network, saved))
        return saved
    }

    @discardableResult
    public func removeReservation(from network: NetworkID, version: Int, mac: MACAddress) throws -> DHCPSettings {
        let now = clock.now()
        let saved: DHCPSettings = try store.write { db in
            guard let owner = try db.network(network), var settings = try db.dhcpSettings(of: network) else { throw NotFound("No such reservation.") }
            guard settings.version == version else { throw Self.stale }
            guard let removed = settings.reservations.first(where: { $0.mac == mac }) else { throw NotFound("No such reservation.") }
            settings.reservations.removeAll { $0.mac == mac }
            settings.version += 1
            try db.save(settings, for: network)
            try db.append(Event(time: now, kind: .dhcpChanged, subject: .network(owner), message: "Removed the reservation of \(removed.address) for \(mac) on “\(owner.name)”."))
            return settings
        }
        dataplane.apply(.dhcpChanged(network, saved))
        return saved
    }

    /// Reservations and leases a scope change's event names one by one; the rest are counted.
    static let namedInEvent = 200

    static let stale = ValidationFailure(
        .staleEdit, "The DHCP settings were changed by someone else since you opened the form. The form now shows the current settings; make your changes again.")
}

extension EventKind {
    public static let dhcpChanged = EventKind(rawValue: "dhcp.changed")
    public static let leaseReleased = EventKind(rawValue: "dhcp.lease-released")
}
