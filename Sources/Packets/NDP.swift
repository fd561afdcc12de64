/// IPv6 neighbour discovery (RFC 4861): router advertisements vnetd sends on host and NAT networks
/// (with RDNSS and DNSSL, RFC 8106), router solicitations it answers, and the neighbour
/// solicitations and advertisements it reads to learn which IPv6 address a VM's NIC took.
public enum ICMPv6 {
    public static let nextHeader: UInt8 = 58
    public static let routerSolicitation: UInt8 = 133
    public static let routerAdvertisement: UInt8 = 134
    public static let neighborSolicitation: UInt8 = 135
    public static let neighborAdvertisement: UInt8 = 136

    /// The ICMPv6 checksum over the IPv6 pseudo-header (RFC 8200 §8.1) and `message` (whose
    /// checksum field, bytes 2-3, must be zero).
    public static func checksum(source: IPv6Address, destination: IPv6Address, message: [UInt8]) -> UInt16 {
        var sum = InternetChecksum()
        sum.add(source.bytes)
        sum.add(destination.bytes)
        sum.add(word: UInt16(truncatingIfNeeded: message.count >> 16))
        sum.add(word: UInt16(truncatingIfNeeded: message.count))
        sum.add(word: 0)
        sum.add(word: UInt16(nextHeader))
        sum.add(message)
        return sum.value
    }

    /// A whole Ethernet frame carrying `message` from `source` to `destination` with hop limit
    /// 255 (every NDP message needs it, RFC 4861 §6.1), the checksum filled in.
    public static func frame(sourceMAC: MACAddress, destinationMAC: MACAddress, source: IPv6Address, destination: IPv6Address,
                             message: [UInt8]) -> [UInt8] {
        var body = message
        let sum = checksum(source: source, destination: destination, message: body)
        body[2] = UInt8(sum >> 8)
        body[3] = UInt8(truncatingIfNeeded: sum)
        var out = EthernetBuilder.header(destination: destinationMAC, source: sourceMAC, type: .ipv6)
        out += [0x60, 0, 0, 0]
        out.append(u16: UInt16(body.count))
        out += [nextHeader, 255]
        out += source.bytes + destination.bytes + body
        return out
    }
}

/// A router advertisement (RFC 4861 §4.2) with the options vnetd uses.
public struct RouterAdvertisement: Equatable, Sendable {
    public struct PrefixInformation: Equatable, Sendable {
        /// The upper 64 bits; the length is always 64 (SLAAC needs it, RFC 4862 §5.5.3).
        public var prefix: UInt64
        public var onLink = true
        public var autonomous = true
        public var validLifetime: UInt32 = 2_592_000
        public var preferredLifetime: UInt32 = 604_800

        public init(prefix: UInt64) { self.prefix = prefix }
    }

    public var currentHopLimit: UInt8 = 64
    public var managed = false
    public var otherConfiguration = false
    /// Seconds this router may be a default router; 0: not one (host networks: no route out).
    public var routerLifetime: UInt16
    public var reachableTime: UInt32 = 0
    public var retransmitTimer: UInt32 = 0
    public var sourceLinkLayerAddress: MACAddress?
    public var mtu: UInt32?
    public var prefixes: [PrefixInformation] = []
    /// Recursive DNS servers (RFC 8106 §5.1) and their lifetime in seconds.
    public var dnsServers: [IPv6Address] = []
    public var dnsServersLifetime: UInt32 = 1200
    /// DNS search list (RFC 8106 §5.2): names as text, dot-separated; one that is not a valid
    /// name (a label over 63 bytes, over 255 in all) is left out.
    public var searchDomains: [String] = []
    public var searchDomainsLifetime: UInt32 = 1200

    public init(routerLifetime: UInt16) { self.routerLifetime = routerLifetime }

    /// The ICMPv6 message, checksum zero (the kernel fills it in for a raw ICMPv6 socket, or
    /// `ICMPv6.frame` does).
    public func serialized() -> [UInt8] {
        var out: [UInt8] = [ICMPv6.routerAdvertisement, 0, 0, 0, currentHopLimit, (managed ? 0x80 : 0) | (otherConfiguration ? 0x40 : 0)]
        out.append(u16: routerLifetime)
        out.append(u32: reachableTime)
        out.append(u32: retransmitTimer)
        if let sourceLinkLayerAddress {
            out += [1, 1]
            out.append(mac: sourceLinkLayerAddress)
        }
        if let mtu {
            out += [5, 1, 0, 0]
            out.append(u32: mtu)
        }
        for info in prefixes {
            out += [3, 4, 64, (info.onLink ? 0x80 : 0) | (info.autonomous ? 0x40 : 0)]
            out.append(u32: info.validLifetime)
            out.append(u32: info.preferredLifetime)
            out.append(u32: 0)
            out += IPv6Address(high: info.prefix, low: 0).bytes
        }
        // An option's length is one byte of 8-octet units: the lists are cut to what fits
        // (127 servers; 2,032 bytes of names), the first ones kept.
        let servers = dnsServers.prefix(Self.maximumDNSServers)
        if !servers.isEmpty {
            out += [25, UInt8(1 + 2 * servers.count), 0, 0]
            out.append(u32: dnsServersLifetime)
            for server in servers { out += server.bytes }
        }
        var names: [[UInt8]] = []
        var nameBytes = 0
        for name in searchDomains.compactMap(Self.wireName) where nameBytes + name.count <= Self.maximumSearchListBytes {
            names.append(name)
            nameBytes += name.count
        }
        if !names.isEmpty {
            var data = names.flatMap { $0 }
            while (8 + data.count) % 8 != 0 { data.append(0) }
            out += [31, UInt8((8 + data.count) / 8), 0, 0]
            out.append(u32: searchDomainsLifetime)
            out += data
        }
        return out
    }

    /// The most servers an RDNSS option holds: (255 - 1) / 2 units of 16 bytes.
    public static let maximumDNSServers = 127
    /// The most bytes of names a DNSSL option holds: 255 units of 8 bytes less its 8-byte head.
    public static let maximumSearchListBytes = 255 * 8 - 8

    /// A name in DNS wire form without compression (RFC 8106 §5.2), or nil.
    static func wireName(_ text: String) -> [UInt8]? {
        var labels = text.split(separator: ".", omittingEmptySubsequences: false).map { Array($0.utf8) }
        if labels.count > 1, labels.last?.isEmpty == true { labels.removeLast() }
        guard !labels.isEmpty, labels.allSatisfy({ (1...63).contains($0.count) }) else { return nil }
        let wire: [UInt8] = labels.flatMap { label -> [UInt8] in [UInt8(label.count)] + label } + [0]
        return wire.count <= 255 ? wire : nil
    }
}

/// What vnetd reads from NDP traffic on a network, straight from a frame without allocating.
public enum NeighborDiscovery {
    /// A VM's NIC claiming an IPv6 address: a duplicate address detection probe (a neighbour
    /// solicitation from the unspecified address, RFC 4862 §5.4.2) or a neighbour advertisement,
    /// with hop limit 255 and a valid ICMPv6 checksum. `mac` is the frame's Ethernet source.
    public struct Claim: Equatable, Sendable {
        public var mac: MACAddress
        public var address: IPv6Address
        public var isProbe: Bool
    }

    /// Whether a VM's claim to `address` may name it (an AAAA record, the VM page) on a network
    /// whose /64 is `prefix`: only an address inside it, and not its ::0 (subnet-router anycast)
    /// or ::1 (the host interface's). Without a known /64: any unicast address beyond the link
    /// (not link-local, loopback, multicast or unspecified). A VM announces what it likes; only
    /// the network's own addresses are believed.
    public static func isNameable(_ address: IPv6Address, prefix: UInt64?) -> Bool {
        guard !address.isLinkLocal, !address.isMulticast, !address.isUnspecified, !(address.high == 0 && address.low == 1) else { return false }
        guard let prefix else { return true }
        return address.high == prefix && address.low > 1
    }

    /// The claim a frame makes, or nil for anything else (including a malformed or a spoofed-hop one).
    public static func claim(in frame: UnsafeRawBufferPointer) -> Claim? {
        guard let ethernet = EthernetFrame(frame), ethernet.etherType == .ipv6 else { return nil }
        let ip = ethernet.payload
        guard ip.count >= 40 + 24, ip[0] >> 4 == 6, ip[6] == ICMPv6.nextHeader, ip[7] == 255 else { return nil }
        let payloadLength = Int(ip.u16(4))
        guard payloadLength >= 24, 40 + payloadLength <= ip.count else { return nil }
        let icmp = UnsafeRawBufferPointer(rebasing: ip[40..<(40 + payloadLength)])
        let type = icmp[0]
        guard icmp[1] == 0, type == ICMPv6.neighborSolicitation || type == ICMPv6.neighborAdvertisement else { return nil }
        let source = address(ip, at: 8)
        let destination = address(ip, at: 24)
        var sum = InternetChecksum()
        sum.add(UnsafeRawBufferPointer(rebasing: ip[8..<40]))
        sum.add(word: UInt16(truncatingIfNeeded: payloadLength >> 16))
        sum.add(word: UInt16(truncatingIfNeeded: payloadLength))
        sum.add(word: 0)
        sum.add(word: UInt16(ICMPv6.nextHeader))
        sum.add(icmp)
        guard sum.value == 0 else { return nil }
        let target = address(icmp, at: 8)
        guard !target.isMulticast, !target.isUnspecified else { return nil }
        if type == ICMPv6.neighborSolicitation {
            // Only a DAD probe says "this address is mine"; an ordinary solicitation asks about another's.
            guard source.isUnspecified, destination.isMulticast else { return nil }
            return Claim(mac: ethernet.source, address: target, isProbe: true)
        }
        guard !source.isUnspecified else { return nil }
        return Claim(mac: ethernet.source, address: target, isProbe: false)
    }

    /// Whether an ICMPv6 message (as a raw ICMPv6 socket hands it over) is a router solicitation.
    public static func isRouterSolicitation(_ icmp: UnsafeRawBufferPointer) -> Bool {
        icmp.count >= 8 && icmp[0] == ICMPv6.routerSolicitation && icmp[1] == 0
    }

    static func address(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> IPv6Address {
        var high: UInt64 = 0, low: UInt64 = 0
        for index in 0..<8 { high = high << 8 | UInt64(bytes[offset + index]) }
        for index in 8..<16 { low = low << 8 | UInt64(bytes[offset + index]) }
        return IPv6Address(high: high, low: low)
    }
}

/// When to send router advertisements (RFC 4861 §6.2.4, §6.2.6), in milliseconds, time injected.
///
/// The first `initialCount` (3) go at most `initialInterval` (16 s) apart; then one at a random
/// time between `minimumInterval` and `maximumInterval` (200-600 s). A solicitation brings the next
/// one forward to a random 0-500 ms away, but never sooner than 3 s after the last one sent.
public struct RouterAdvertisementSchedule: Sendable {
    public var maximumInterval: Int64 = 600_000
    public var minimumInterval: Int64 = 200_000
    public static let initialInterval: Int64 = 16_000
    public static let initialCount = 3
    public static let minimumDelayBetween: Int64 = 3_000
    public static let maximumResponseDelay: Int64 = 500

    public private(set) var nextDue: Int64
    public private(set) var lastSent: Int64?
    public private(set) var sentCount = 0

    /// The first advertisement goes out at once.
    public init(now: Int64) { nextDue = now }

    public mutating func sent<R: RandomNumberGenerator>(now: Int64, using random: inout R) {
        lastSent = now
        sentCount += 1
        // A minimum above the maximum (bad settings) is taken as the two swapped, never a trap.
        var interval = Int64.random(in: min(minimumInterval, maximumInterval)...max(minimumInterval, maximumInterval), using: &random)
        if sentCount < Self.initialCount { interval = min(interval, Self.initialInterval) }
        nextDue = now + interval
    }

    public mutating func solicited<R: RandomNumberGenerator>(now: Int64, using random: inout R) {
        var due = now + Int64.random(in: 0...Self.maximumResponseDelay, using: &random)
        if let lastSent { due = max(due, lastSent + Self.minimumDelayBetween) }
        nextDue = min(nextDue, due)
    }
}
