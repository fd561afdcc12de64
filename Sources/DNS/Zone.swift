import Packets

/// An address a name in a zone stands for.
public enum HostAddress: Hashable, Sendable {
    case ipv4(IPv4Address)
    case ipv6(IPv6AddressBytes)

    /// The name a PTR query asks for: `d.c.b.a.in-addr.arpa.` or 32 nibbles under `ip6.arpa.`.
    public var reverseName: DNSName {
        switch self {
        case .ipv4(let address):
            return DNSName(checkedLabels: address.octets.reversed().map { Array(String($0).utf8) } + [Array("in-addr".utf8), Array("arpa".utf8)])
        case .ipv6(let address):
            let nibbles = address.bytes.reversed().flatMap { [$0 & 0xF, $0 >> 4] }
            return DNSName(checkedLabels: nibbles.map { Array(String($0, radix: 16).utf8) } + [Array("ip6".utf8), Array("arpa".utf8)])
        }
    }
}

/// One network's names: what `DNSResponder` answers with authority.
///
/// Names in `records` are relative to `domain` ("web" is `web.<domain>`; "" is the domain itself).
/// A name that is not a valid DNS name under the domain (an empty label, a label over 63 bytes, over
/// 255 bytes in all) is left out and listed in `skippedNames`, so one odd VM name cannot stop the
/// others being served; the caller may report it.
public struct Zone: Sendable {
    public let domain: DNSName
    /// TTL of every answer, and of negative answers (SOA minimum): short, since leases change.
    public let ttl: UInt32
    /// The SOA serial; the caller bumps it when the names change (a generation, or a time it reads).
    public let serial: UInt32
    /// Whether names outside the zone go to upstream resolvers (`.forward`) or are refused.
    public let forwardsOutside: Bool
    public let skippedNames: [String]

    let addresses: [DNSName: [HostAddress]]
    let pointers: [DNSName: [DNSName]]
    /// Every name that exists in the zone, including empty non-terminals (RFC 8020: `b.<domain>`
    /// exists when `a.b.<domain>` does, so it gets NODATA, not NXDOMAIN).
    let existingNames: Set<DNSName>

    public init(domain: DNSName, records: [String: [HostAddress]], ttl: UInt32 = 60, serial: UInt32 = 1,
                forwardsOutside: Bool = false) {
        self.domain = domain
        self.ttl = ttl
        self.serial = serial
        self.forwardsOutside = forwardsOutside
        var addresses: [DNSName: [HostAddress]] = [:]
        var pointers: [DNSName: [DNSName]] = [:]
        var existing: Set<DNSName> = [domain]
        var skipped: [String] = []
        for (relative, hostAddresses) in records.sorted(by: { $0.key < $1.key }) {
            guard let name = (relative.isEmpty ? DNSName.root : try? DNSName(relative)).flatMap({ $0.appending(domain) }) else {
                skipped.append(relative)
                continue
            }
            addresses[name, default: []].append(contentsOf: hostAddresses.filter { !(addresses[name]?.contains($0) ?? false) })
            for address in hostAddresses where !(pointers[address.reverseName]?.contains(name) ?? false) {
                pointers[address.reverseName, default: []].append(name)
            }
            for depth in 0..<(name.labels.count - domain.labels.count) {
                existing.insert(DNSName(checkedLabels: Array(name.labels.dropFirst(depth))))
            }
        }
        self.addresses = addresses
        self.pointers = pointers
        self.existingNames = existing
        self.skippedNames = skipped
    }

    /// The names with addresses, sorted, at most `limit` of them (for a status page), and how many
    /// there are in all. Names without the final dot.
    public func listing(limit: Int) -> (names: [(name: String, addresses: [String])], count: Int) {
        let sorted = addresses.keys.map { ($0, $0.description) }.sorted { $0.1 < $1.1 }
        let names = sorted.prefix(max(0, limit)).map { key, text in
            (name: text.hasSuffix(".") ? String(text.dropLast()) : text,
             addresses: (addresses[key] ?? []).map { address -> String in
                switch address {
                case .ipv4(let v4): v4.description
                case .ipv6(let v6): v6.description
                }
             })
        }
        return (names, sorted.count)
    }

    /// The zone's SOA; its owner is the domain as the zone spells it.
    var startOfAuthority: DNSRecord {
        let mailbox = DNSName(checkedLabels: [Array("hostmaster".utf8)] + domain.labels)
        return DNSRecord(name: domain, type: .soa, ttl: ttl, data: .soa(StartOfAuthority(
            primaryServer: domain, responsibleMailbox: domain.wireLength + 11 <= DNSName.maximumWireLength ? mailbox : domain,
            serial: serial, refresh: 3600, retry: 600, expire: 86_400, minimum: ttl)))
    }
}
