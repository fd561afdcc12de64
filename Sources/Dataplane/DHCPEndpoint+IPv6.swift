import Packets
import Switching

/// The IPv6 addresses VMs take (issue 14): every flooded frame reaches this port, so it reads
/// the duplicate address detection probes and neighbour advertisements (`NeighborDiscovery.claim`)
/// a NIC sends from its own MAC, and keeps the addresses for the VM page and the zone's AAAA
/// records. Only a VM port's own NIC MAC counts (a spoofing NIC could claim anyone's address for
/// any MAC), and only an address of the network's own /64 (`ipv6Prefix`, on host and NAT
/// networks; `NeighborDiscovery.isNameable`): a VM announcing another's address, ::1 or one from
/// outside gets no record for it, on the page or in the zone.
extension DHCPEndpoint {
    /// Addresses kept per NIC: a VM with temporary (privacy) addresses makes a new one a day.
    static let ipv6AddressesPerNIC = 8

    func noteNeighborDiscovery(_ frame: UnsafeRawBufferPointer) {
        guard let claim = NeighborDiscovery.claim(in: frame),
            let port = fabric?.table.port(of: claim.mac, now: loop.now),
            case .vm(let nicMAC, _)? = fabric?.role(of: port), nicMAC == claim.mac,
            NeighborDiscovery.isNameable(claim.address, prefix: ipv6Prefix)
        else { return }
        if ipv6Addresses[claim.mac]?.last == claim.address { return }
        var addresses = ipv6Addresses[claim.mac] ?? []
        addresses.removeAll { $0 == claim.address }
        addresses.append(claim.address)
        if addresses.count > Self.ipv6AddressesPerNIC { addresses.removeFirst(addresses.count - Self.ipv6AddressesPerNIC) }
        ipv6Addresses[claim.mac] = addresses
    }
}
