import DHCP
import DNS
import Foundation
import Packets
import Switching

/// The network's names, answered on the DHCP server's address (issue 14: on guest-only networks
/// with DHCP on, and later on host and NAT networks).
///
/// The zone is `<domain>`: the DHCP domain name when the administrator set one, else
/// `<network name>.vnetd.internal`. It holds each VM's name for the addresses its NICs lease here,
/// each reservation's host name, and each lease's client host name, with reverse PTR records; it
/// is rebuilt at most once a second when a query comes, so a new lease is known within a second.
/// Names outside the zone are refused: a guest-only network has no resolver beyond it. UDP only
/// (an answer too long for the client says so with TC; the names here fit). On host and NAT
/// networks the host interface's server (`NetworkDNSServer`) answers instead, from the same zone
/// with the VMs' IPv6 addresses (AAAA) added, and this endpoint answers no DNS.
extension DHCPEndpoint {
    /// The domain the zone and the DHCP domain name default to.
    static func defaultDomain(networkName: String) -> String {
        "\(dnsLabel(networkName) ?? "network").vnetd.internal"
    }

    /// A name as a DNS label: lower case, letters, digits and hyphens (anything else becomes a
    /// hyphen), no hyphen first or last, at most 63 bytes; nil when nothing is left.
    static func dnsLabel(_ name: String) -> String? {
        var label = ""
        for scalar in name.lowercased().unicodeScalars {
            let ok = ("a"..."z").contains(scalar) || ("0"..."9").contains(scalar)
            label.unicodeScalars.append(ok ? scalar : "-")
        }
        while label.contains("--") { label = label.replacingOccurrences(of: "--", with: "-") }
        label = String(label.trimmingCharacters(in: CharacterSet(charactersIn: "-")).prefix(63))
        label = label.trimmingCharacters(in: CharacterSet(charactersIn: "-"))
        return label.isEmpty ? nil : label
    }

    var servesNames: Bool { isAuthoritative && hostDNSAddress == nil }

    var zoneDomain: String {
        settings.domainName.flatMap { $0.isEmpty ? nil : $0 } ?? Self.defaultDomain(networkName: networkName)
    }

    /// The zone from what the server knows now.
    func buildZone(now: Int64, forwardsOutside: Bool = false) -> Zone? {
        guard let domain = try? DNSName(zoneDomain) else { return nil }
        var records: [String: [HostAddress]] = [:]
        func add(_ name: String?, _ address: HostAddress) {
            guard let name, let label = Self.dnsLabel(name) else { return }
            if !(records[label]?.contains(address) ?? false) { records[label, default: []].append(address) }
        }
        func add(_ name: String?, _ address: IPv4Address) { add(name, .ipv4(address)) }
        for lease in server.leases(now: now) {
            add(vmNames[lease.mac], lease.address)
            add(lease.hostName, lease.address)
            for v6 in ipv6Addresses[lease.mac] ?? [] where NeighborDiscovery.isNameable(v6, prefix: ipv6Prefix) {
                guard let bytes = IPv6AddressBytes(bytes: v6.bytes) else { continue }
                add(vmNames[lease.mac], .ipv6(bytes))
                add(lease.hostName, .ipv6(bytes))
            }
        }
        for reservation in settings.reservations where !reservation.hostName.isEmpty && settings.contains(reservation.address) {
            add(reservation.hostName, reservation.address)
        }
        return Zone(domain: domain, records: records, ttl: 60, serial: UInt32(truncatingIfNeeded: now), forwardsOutside: forwardsOutside)
    }

    /// A DNS query to the server's address: answered straight to the port it came from.
    func answerDNS(_ udp: UDPDatagram, from ip: IPv4Packet, client: MACAddress, port: PortID) {
        let now = self.now
        if zoneNeedsBuilding(now: now) {
            zone = buildZone(now: now).map { DNSResponder(zone: $0) }
            zoneBuilt = now
        }
        guard let responder = zone else { return }
        dnsQueries &+= 1
        switch responder.respond(to: udp.payload) {
        case .answer(let bytes):
            queue(UDPDatagram.frame(sourceMAC: mac, destinationMAC: client, source: settings.server, destination: ip.source,
                                    sourcePort: 53, destinationPort: udp.sourcePort, payload: bytes), to: port)
        case .forward, .drop:
            break
        }
    }

    /// Host and NAT networks: a UDP query from the network to the host interface's address that
    /// the zone answers is answered here, in the switch, from the host interface's MAC and
    /// address, so it never crosses into the kernel and back (the guest-only path's speed); a
    /// query to forward, a malformed one or one from outside the subnet returns false and goes on
    /// to the host, where `NetworkDNSServer` answers it (and counts what it drops).
    func answerDNSInSwitch(_ frame: UnsafeRawBufferPointer) -> Bool {
        guard let address = hostDNSAddress, let hostMAC = hostInterfaceMAC, let ethernet = EthernetFrame(frame), ethernet.etherType == .ipv4,
            let ip = IPv4Packet(ethernet.payload), ip.protocolNumber == .udp, !ip.isFragment, ip.destination == address,
            settings.contains(ip.source), let udp = UDPDatagram(ip.payload), udp.destinationPort == 53,
            let port = fabric?.table.port(of: ethernet.source, now: loop.now)
        else { return false }
        let now = self.now
        if zoneNeedsBuilding(now: now) {
            zone = buildZone(now: now, forwardsOutside: true).map { DNSResponder(zone: $0) }
            zoneBuilt = now
        }
        guard let responder = zone, case .answer(let bytes) = responder.respond(to: udp.payload) else { return false }
        dnsQueries &+= 1
        queue(UDPDatagram.frame(sourceMAC: hostMAC, destinationMAC: ethernet.source, source: address, destination: ip.source,
                                sourcePort: 53, destinationPort: udp.sourcePort, payload: bytes), to: port)
        return true
    }
}
