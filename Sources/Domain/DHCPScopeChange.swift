import Foundation
import Packets

/// What a new scope would leave behind: reservations whose address is no longer a host of the
/// network (or became the server's), and live leases outside the new range. Nothing is dropped
/// without the administrator's word: each is kept or renumbered (a lease: released, so its
/// client takes a new address) as `ScopeDecisions` says, and the event names every one.
public struct ScopeChange: Sendable, Equatable {
    public struct Reservation: Sendable, Equatable {
        public var reservation: DHCPReservation
        /// A free host address of the new network for it, when there is one.
        public var proposed: IPv4Address?
    }

    public var reservations: [Reservation]
    public var leases: [DHCPLease]

    public var isEmpty: Bool { reservations.isEmpty && leases.isEmpty }

    /// The change from `current` to `next` (which carries the reservations as they are).
    public static func between(_ current: DHCPSettings?, _ next: DHCPSettings, leases: [DHCPLease], now: Date) -> ScopeChange {
        guard let current else { return ScopeChange(reservations: [], leases: []) }
        let outside = current.reservations.filter { !DHCPRules.isReservable($0.address, in: next) }
        var taken = Set(current.reservations.filter { DHCPRules.isReservable($0.address, in: next) }.map(\.address))
        var moved: [Reservation] = []
        for reservation in outside {
            let proposal = proposedAddress(for: reservation.address, from: current, in: next, avoiding: taken)
            if let proposal { taken.insert(proposal) }
            moved.append(Reservation(reservation: reservation, proposed: proposal))
        }
        let reserved = Dictionary(next.reservations.map { ($0.mac, $0.address) }, uniquingKeysWith: { first, _ in first })
        let stranded = leases.filter { lease in
            guard lease.expires > now else { return false }
            if next.contains(lease.address), reserved[lease.mac] == lease.address, DHCPRules.isReservable(lease.address, in: next) { return false }
            return !(lease.address >= next.rangeStart && lease.address <= next.rangeEnd) || lease.address == next.server
        }
        return ScopeChange(reservations: moved, leases: stranded.sorted { $0.address < $1.address })
    }

    /// The same host number in the new network when it is free there, else the lowest free
    /// address of the new range; never the gateway's, a DNS or WINS server's.
    static func proposedAddress(for address: IPv4Address, from current: DHCPSettings, in next: DHCPSettings, avoiding taken: Set<IPv4Address>) -> IPv4Address? {
        let infrastructure = Set([next.gateway].compactMap { $0 } + next.dnsServers + next.winsServers)
        func usable(_ candidate: IPv4Address) -> Bool {
            DHCPRules.isReservable(candidate, in: next) && !taken.contains(candidate) && !infrastructure.contains(candidate)
        }
        let host = address.value & ~current.mask.value
        let same = IPv4Address(value: next.network.value | host)
        if host & next.mask.value == 0, usable(same) { return same }
        var candidate = next.rangeStart.value
        while candidate <= next.rangeEnd.value, candidate - next.rangeStart.value < 1 << 16 {
            if usable(IPv4Address(value: candidate)) { return IPv4Address(value: candidate) }
            candidate += 1
        }
        return nil
    }
}

/// The administrator's answer to a `ScopeChange`: reservations to renumber (to the address
/// given), leases to release now. Everything not named is kept as it is.
public struct ScopeDecisions: Sendable, Equatable {
    public var renumber: [MACAddress: IPv4Address]
    public var release: Set<IPv4Address>

    public init(renumber: [MACAddress: IPv4Address] = [:], release: Set<IPv4Address> = []) {
        self.renumber = renumber
        self.release = release
    }

    /// Keep every reservation (outside the network it is stored but not handed out) and every
    /// lease (its client moves when it next renews).
    public static let keepAll = ScopeDecisions()
}

/// The save would leave reservations or leases behind: the page asks first.
public struct ScopeChangeNeedsConfirmation: Error, Sendable, Equatable {
    public let change: ScopeChange
    public let settings: DHCPSettings
}
