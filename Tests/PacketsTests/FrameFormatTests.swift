import Testing
@testable import Packets

func hex(_ text: String) -> [UInt8] {
    var bytes: [UInt8] = []
    var index = text.startIndex
    while index < text.endIndex {
        let next = text.index(index, offsetBy: 2)
        bytes.append(UInt8(text[index..<next], radix: 16)!)
        index = next
    }
    return bytes
}

@Suite("Frame formats, golden bytes")
struct FrameFormatTests {
    @Test func ipv4HeaderChecksumMatchesThePublishedExample() {
        // The header used to explain the checksum on many pages: 4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7.
        let header = hex("450000730000400040110000c0a80001c0a800c7")
        #expect(header.withUnsafeBytes { InternetChecksum.of($0) } == 0xB861)
        let built = IPv4Packet.header(source: IPv4Address(192, 168, 0, 1), destination: IPv4Address(192, 168, 0, 199), protocolNumber: .udp, payloadSize: 0x73 - 20)
        #expect(built == hex("45000073000040004011b861c0a80001c0a800c7"))
    }

    @Test func udpFrameIsBuiltByteForByte() {
        // Expected bytes computed independently (Python struct, RFC 768 pseudo-header).
        let frame = UDPDatagram.frame(
            sourceMAC: MACAddress(value: 0x0003FF000001), destinationMAC: .broadcast,
            source: IPv4Address(192, 168, 131, 1), destination: .broadcast, sourcePort: 67, destinationPort: 68,
            payload: Array("hello dhcp".utf8))
        #expect(frame == hex("ffffffffffff0003ff000001080045000026000040004011f71dc0a88301ffffffff004300440012afce68656c6c6f2064686370"))
    }

    @Test func udpFrameParsesBackWithValidChecksums() throws {
        let frame = hex("ffffffffffff0003ff000001080045000026000040004011f71dc0a88301ffffffff004300440012afce68656c6c6f2064686370")
        try frame.withUnsafeBytes { bytes in
            let ethernet = try #require(EthernetFrame(bytes))
            #expect(ethernet.destination == .broadcast)
            #expect(ethernet.source == MACAddress(value: 0x0003FF000001))
            #expect(ethernet.etherType == .ipv4)
            #expect(ethernet.vlanID == nil)
            let ip = try #require(IPv4Packet(ethernet.payload))
            #expect(ip.hasValidChecksum)
            #expect(ip.protocolNumber == .udp)
            #expect(ip.source == IPv4Address(192, 168, 131, 1))
            let udp = try #require(UDPDatagram(ip.payload))
            #expect(udp.sourcePort == 67 && udp.destinationPort == 68)
            #expect(udp.hasValidChecksum(source: ip.source, destination: ip.destination))
            #expect(Array(udp.payload) == Array("hello dhcp".utf8))
        }
    }

    @Test func arpRequestRoundTrips() throws {
        let golden = hex("ffffffffffff0003ff00000108060001080006040001" + "0003ff000001c0a80101" + "000000000000c0a80102")
        let built = ARPPacket.frame(
            operation: .request, senderMAC: MACAddress(value: 0x0003FF000001), senderIP: IPv4Address(192, 168, 1, 1),
            targetMAC: .zero, targetIP: IPv4Address(192, 168, 1, 2), destination: .broadcast)
        #expect(built == golden)
        try golden.withUnsafeBytes { bytes in
            let arp = try #require(EthernetFrame(bytes).flatMap { ARPPacket($0.payload) })
            #expect(arp.operation == .request)
            #expect(arp.senderIP == IPv4Address(192, 168, 1, 1))
            #expect(arp.targetIP == IPv4Address(192, 168, 1, 2))
            #expect(arp.senderMAC == MACAddress(value: 0x0003FF000001))
        }
    }

    @Test func vlanTaggedFrameExposesTagAndInnerType() throws {
        let tagged = hex("0003ff0000020003ff000001" + "8100" + "a064" + "0806") + [UInt8](repeating: 0, count: 28)
        try tagged.withUnsafeBytes { bytes in
            let frame = try #require(EthernetFrame(bytes))
            #expect(frame.vlanID == 100)
            #expect(frame.priority == 5)
            #expect(frame.etherType == .arp)
            #expect(frame.payload.count == 28)
        }
        #expect(EthernetBuilder.header(destination: .broadcast, source: .zero, type: .ipv4, vlanID: 100) == hex("ffffffffffff000000000000" + "81000064" + "0800"))
    }

    @Test func truncatedAndMalformedInputNeverTraps() {
        // Every prefix of a valid frame, and random bytes, go through every parser without a trap.
        let frame = hex("ffffffffffff0003ff000001080045000026000040004011f71dc0a88301ffffffff004300440012afce68656c6c6f2064686370")
        for length in 0...frame.count {
            Array(frame.prefix(length)).withUnsafeBytes { bytes in
                if let ethernet = EthernetFrame(bytes), let ip = IPv4Packet(ethernet.payload), let udp = UDPDatagram(ip.payload) {
                    _ = udp.payload.count
                }
                _ = ARPPacket(bytes)
            }
        }
        #expect([UInt8](repeating: 0, count: 13).withUnsafeBytes { EthernetFrame($0) } == nil)
        #expect(hex("ffffffffffff0003ff0000018100").withUnsafeBytes { EthernetFrame($0) } == nil)
        // IPv4 total length beyond the buffer, header length under 20, wrong version.
        #expect(hex("45000099000040004011000001020304050607080000").withUnsafeBytes { IPv4Packet($0) } == nil)
        #expect(hex("44000014000040004011000001020304050607080000").withUnsafeBytes { IPv4Packet($0) } == nil)
        #expect(hex("65000014000040004011000001020304050607080000").withUnsafeBytes { IPv4Packet($0) } == nil)
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let junk = (0..<Int.random(in: 0...80, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            junk.withUnsafeBytes { bytes in
                if let ethernet = EthernetFrame(bytes) {
                    _ = (ethernet.vlanID, ethernet.etherType, ethernet.payload.count)
                    if let ip = IPv4Packet(ethernet.payload) { _ = (ip.hasValidChecksum, UDPDatagram(ip.payload)?.payload.count) }
                    _ = ARPPacket(ethernet.payload)?.targetIP
                }
            }
        }
    }

    @Test func checksumHandlesOddLengthsAndChunking() {
        let data: [UInt8] = [0x01, 0x02, 0x03, 0x04, 0x05]
        var whole = InternetChecksum()
        whole.add(data)
        var parts = InternetChecksum()
        parts.add(Array(data[0..<3]))
        parts.add(Array(data[3...]))
        #expect(whole.value == parts.value)
        // 0x0102 + 0x0304 + 0x0500 = 0x0906 -> ~ = 0xF6F9
        #expect(whole.value == 0xF6F9)
    }
}
