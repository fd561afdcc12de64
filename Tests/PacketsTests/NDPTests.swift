import Testing
@testable import Packets

func hexBytes(_ text: String) -> [UInt8] {
    let digits = Array(text.filter(\.isHexDigit))
    return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(digits[$0...$0 + 1]), radix: 16)! }
}

@Suite("IPv6 neighbour discovery: router advertisements, DAD probes, schedule")
struct NDPTests {
    /// Linux 6.x's duplicate address detection probe for fd00:77::10 from 02:00:5e:10:00:01,
    /// captured with tcpdump between two namespaces (nonce option included).
    let kernelProbe = hexBytes("""
        3333 ff00 0010 0200 5e10 0001 86dd 6000 0000 0020 3aff 0000 0000 0000 0000 0000
        0000 0000 0000 ff02 0000 0000 0000 0000 0001 ff00 0010 8700 b6bd 0000 0000 fd00
        0077 0000 0000 0000 0000 0000 0010 0e01 4780 2f8a 413f
        """)
    /// The same kernel's probe for its link-local address, fe80::5eff:fe10:1 (EUI-64 of the MAC).
    let kernelLinkLocalProbe = hexBytes("""
        3333 ff10 0001 0200 5e10 0001 86dd 6000 0000 0020 3aff 0000 0000 0000 0000 0000
        0000 0000 0000 ff02 0000 0000 0000 0000 0001 ff10 0001 8700 bdba 0000 0000 fe80
        0000 0000 0000 0000 5eff fe10 0001 0e01 f99e 7f05 da9c
        """)
    let mac = MACAddress(value: 0x0200_5E10_0001)
    let prefix: UInt64 = 0xFD12_3456_789A_0001

    @Test func routerAdvertisementGoldenBytes() {
        var ra = RouterAdvertisement(routerLifetime: 1800)
        ra.sourceLinkLayerAddress = MACAddress(value: 0x0200_5E00_0001)
        ra.prefixes = [.init(prefix: prefix)]
        ra.dnsServers = [IPv6Address(high: prefix, low: 1)]
        ra.searchDomains = ["lab.vnetd.internal", "bad..", String(repeating: "x", count: 64) + ".example"]
        #expect(ra.serialized() == hexBytes("""
            8600 0000 4000 0708 0000 0000 0000 0000
            0101 0200 5e00 0001
            0304 40c0 0027 8d00 0009 3a80 0000 0000 fd12 3456 789a 0001 0000 0000 0000 0000
            1903 0000 0000 04b0 fd12 3456 789a 0001 0000 0000 0000 0001
            1f04 0000 0000 04b0 036c 6162 0576 6e65 7464 0869 6e74 6572 6e61 6c00 0000 0000
            """))
        var host = RouterAdvertisement(routerLifetime: 0)
        host.mtu = 1500
        #expect(host.serialized() == hexBytes("8600 0000 4000 0000 0000 0000 0000 0000 0501 0000 0000 05dc"))
    }

    @Test func checksumMatchesTheKernelsAndFramesCarryIt() {
        var message = Array(kernelLinkLocalProbe[54...])
        message[2] = 0
        message[3] = 0
        let destination = IPv6Address(high: 0xFF02_0000_0000_0000, low: 0x0001_FF10_0001)
        #expect(ICMPv6.checksum(source: .unspecified, destination: destination, message: message) == 0xBDBA)
        let rebuilt = ICMPv6.frame(sourceMAC: mac, destinationMAC: destination.multicastMAC, source: .unspecified,
                                   destination: destination, message: message)
        #expect(rebuilt == kernelLinkLocalProbe)
    }

    @Test func addressesEUI64AndText() {
        #expect(IPv6Address.linkLocal(mac: mac) == IPv6Address(high: 0xFE80_0000_0000_0000, low: 0x0000_5EFF_FE10_0001))
        #expect(IPv6Address.linkLocal(mac: mac).description == "fe80::5eff:fe10:1")
        #expect(IPv6Address(high: prefix, low: 1).description == "fd12:3456:789a:1::1")
        #expect(IPv6Address.allNodes.description == "ff02::1" && IPv6Address.allNodes.multicastMAC == MACAddress(value: 0x3333_0000_0001))
        #expect(IPv6Address(high: 0x2001_0DB8_0000_0000, low: 0x0001_0000_0000_0001).description == "2001:db8::1:0:0:1")
        #expect(IPv6Address(bytes: IPv6Address(high: prefix, low: 42).bytes) == IPv6Address(high: prefix, low: 42))
    }

    @Test func aDADProbeIsAClaimAndItsCorruptionsAreNot() {
        let claim = kernelProbe.withUnsafeBytes { NeighborDiscovery.claim(in: $0) }
        #expect(claim == NeighborDiscovery.Claim(mac: mac, address: IPv6Address(high: 0xFD00_0077_0000_0000, low: 0x10), isProbe: true))
        // Any one byte changed in the IPv6 header or the message breaks the hop limit, the checksum or the type.
        for offset in [20, 21, 30, 54, 58, 70, 77] {
            var bad = kernelProbe
            bad[offset] ^= 0x01
            #expect(bad.withUnsafeBytes { NeighborDiscovery.claim(in: $0) } == nil, "byte \(offset)")
        }
        for length in 0..<kernelProbe.count {
            #expect(Array(kernelProbe[..<length]).withUnsafeBytes { NeighborDiscovery.claim(in: $0) } == nil)
        }
    }

    @Test func anAdvertisementIsAClaimAnOrdinarySolicitationIsNot() {
        let address = IPv6Address(high: prefix, low: 0x10)
        var na: [UInt8] = [ICMPv6.neighborAdvertisement, 0, 0, 0, 0x20, 0, 0, 0] + address.bytes + [2, 1, 0x02, 0, 0x5E, 0x10, 0, 1]
        let advertisement = ICMPv6.frame(sourceMAC: mac, destinationMAC: IPv6Address.allNodes.multicastMAC, source: address,
                                         destination: .allNodes, message: na)
        #expect(advertisement.withUnsafeBytes { NeighborDiscovery.claim(in: $0) } == .init(mac: mac, address: address, isProbe: false))
        na[0] = ICMPv6.neighborSolicitation
        let question = ICMPv6.frame(sourceMAC: mac, destinationMAC: IPv6Address.allNodes.multicastMAC, source: address,
                                    destination: IPv6Address(high: 0xFF02_0000_0000_0000, low: 0x0001_FF00_0020), message: na)
        #expect(question.withUnsafeBytes { NeighborDiscovery.claim(in: $0) } == nil)
        #expect([UInt8]([133, 0, 0, 0, 0, 0, 0, 0]).withUnsafeBytes { NeighborDiscovery.isRouterSolicitation($0) })
        #expect(![UInt8]([133, 0, 0, 0]).withUnsafeBytes { NeighborDiscovery.isRouterSolicitation($0) })
    }

    @Test func scheduleFollowsRFC4861Intervals() {
        var random = SystemRandomNumberGenerator()
        var schedule = RouterAdvertisementSchedule(now: 1000)
        #expect(schedule.nextDue == 1000)
        var last: Int64 = 1000
        for index in 0..<6 {
            schedule.sent(now: last, using: &random)
            let gap = schedule.nextDue - last
            if index < 2 { #expect((0...16_000).contains(gap)) } else { #expect((200_000...600_000).contains(gap)) }
            last = schedule.nextDue
        }
        // A solicitation right after an advertisement waits out the 3 s minimum; later, at most 0.5 s.
        schedule.sent(now: 10_000_000, using: &random)
        schedule.solicited(now: 10_000_100, using: &random)
        #expect(schedule.nextDue == 10_003_000)
        schedule.sent(now: 10_003_000, using: &random)
        schedule.solicited(now: 10_100_000, using: &random)
        #expect((10_100_000...10_100_500).contains(schedule.nextDue))
    }

    /// The options of a serialized advertisement as (type, bytes), read by their length fields;
    /// nil when a length does not add up to the message.
    func options(_ message: [UInt8]) -> [(type: UInt8, bytes: Int)]? {
        var found: [(type: UInt8, bytes: Int)] = []
        var offset = 16
        while offset < message.count {
            guard offset + 2 <= message.count, message[offset + 1] > 0 else { return nil }
            let bytes = Int(message[offset + 1]) * 8
            guard offset + bytes <= message.count else { return nil }
            found.append((message[offset], bytes))
            offset += bytes
        }
        return found
    }

    @Test func tooManyServersOrNamesAreCutToWhatTheOptionLengthCanSayNotATrap() throws {
        var ra = RouterAdvertisement(routerLifetime: 0)
        ra.dnsServers = (1...300).map { IPv6Address(high: prefix, low: UInt64($0)) }
        // 200 names of 17 bytes on the wire: 3,400 bytes, more than one option holds.
        ra.searchDomains = (1...200).map { "n\(100_000 + $0).example" }
        let message = ra.serialized()
        let found = try #require(options(message), "every option's length adds up")
        #expect(found.map(\.type) == [25, 31])
        #expect(found.first?.bytes == 8 + 16 * RouterAdvertisement.maximumDNSServers, "the first 127 servers")
        #expect(Array(message[24..<40]) == IPv6Address(high: prefix, low: 1).bytes)
        let names = try #require(found.last)
        #expect(names.bytes <= 255 * 8 && names.bytes > 255 * 8 - 17 - 8, "as many whole names as fit: \(names.bytes)")
    }

    @Test func aMinimumIntervalAboveTheMaximumIsNoTrap() {
        var random = SystemRandomNumberGenerator()
        var schedule = RouterAdvertisementSchedule(now: 0)
        schedule.minimumInterval = 900_000
        schedule.maximumInterval = 200_000
        for _ in 0..<4 { schedule.sent(now: 0, using: &random) }
        #expect((200_000...900_000).contains(schedule.nextDue))
    }

    @Test func onlyTheNetworksOwnAddressesNameAVM() {
        let own = IPv6Address(high: prefix, low: 0x20)
        #expect(NeighborDiscovery.isNameable(own, prefix: prefix))
        for claimed in [IPv6Address(high: 0, low: 1), IPv6Address(high: 0xFE80_0000_0000_0000, low: 0x20),
                        IPv6Address(high: 0x2001_0DB8_0000_0001, low: 0x20), IPv6Address(high: prefix, low: 1), IPv6Address(high: prefix, low: 0),
                        IPv6Address(high: 0xFF02_0000_0000_0000, low: 1)] {
            #expect(!NeighborDiscovery.isNameable(claimed, prefix: prefix), "\(claimed) is not the network's")
        }
        #expect(NeighborDiscovery.isNameable(IPv6Address(high: 0x2001_0DB8_0000_0001, low: 0x20), prefix: nil), "no /64 known: any global address")
        #expect(!NeighborDiscovery.isNameable(IPv6Address(high: 0, low: 1), prefix: nil))
    }
}
