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

    /// Saves the form. Reservations stay as they are; `version` is the version the form showed.
    @discardableResult
    public func update(_ network: NetworkID, version: Int, _ draft: DHCPDraft) throws -> DHCPSettings {
        var settings: DHCPSettings
        switch DHCPRules.settings(from: draft) {
        case .failure(let failure): throw failure
        case .success(let parsed): settings = parsed
        }
        let now = clock.now()
        let saved: (VirtualNetwork, DHCPSettings) = try store.write { db in
            guard let owner = try db.network(network) else { throw NotFound("No such virtual network.") }
            let current = try db.dhcpSettings(of: network)
            guard (current?.version ?? 0) == version else { throw Self.stale }
            settings.reservations = current?.reservations.filter { DHCPRules.isReservable($0.address, in: settings) } ?? []
            settings.version = version + 1
            try db.save(settings, for: network)
            let what: String
            if current?.isEnabled != settings.isEnabled {
                what = settings.isEnabled
                    ? "DHCP server of “\(owner.name)” turned on: \(settings.rangeStart)–\(settings.rangeEnd), server \(settings.server)."
                    : "DHCP server of “\(owner.name)” turned off."
            } else {
                what = "DHCP settings of “\(owner.name)” changed."
            }
            try db.append(Event(time: now, kind: .dhcpChanged, subject: .network(owner), message: what))
            return (owner, settings)
        }
        dataplane.apply(.dhcpChanged(network, saved.1))
        return saved.1
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

    static let stale = ValidationFailure(
        .staleEdit, "The DHCP settings were changed by someone else since you opened the form. The form now shows the current settings; make your changes again.")
}

extension EventKind {
    public static let dhcpChanged = EventKind(rawValue: "dhcp.changed")
}
