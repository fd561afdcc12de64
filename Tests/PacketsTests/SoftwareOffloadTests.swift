import Testing
@testable import Packets

/// The RFC 1071 sum written out plainly, to check the encoder's checksums without using them:
/// over data that includes its checksum, a correct one makes the sum 0xFFFF.
private func onesComplementSum(_ bytes: [UInt8]) -> UInt16 {
    var sum: UInt32 = 0
    var index = 0
    while index < bytes.count {
        let high = UInt32(bytes[index]) << 8
        let low = index + 1 < bytes.count ? UInt32(bytes[index + 1]) : 0
        sum += high | low
        index += 2
    }
    while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
    return UInt16(sum)
}

private func u16(_ bytes: [UInt8], _ offset: Int) -> Int { Int(bytes[offset]) << 8 | Int(bytes[offset + 1]) }
private func u32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
    UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
}

/// A virtio-net header as a TAP hands it over (little-endian fields).
private func virtioHeader(flags: UInt8 = 1, gso: UInt8, headerLength: Int = 0, gsoSize: Int = 0, checksumStart: Int, checksumOffset: Int) -> [UInt8] {
    [flags, gso, UInt8(headerLength & 0xFF), UInt8(headerLength >> 8), UInt8(gsoSize & 0xFF), UInt8(gsoSize >> 8),
     UInt8(checksumStart & 0xFF), UInt8(checksumStart >> 8), UInt8(checksumOffset & 0xFF), UInt8(checksumOffset >> 8)]
}

private let clientMAC: [UInt8] = [0x00, 0x03, 0xFF, 0x00, 0x00, 0x0A], serverMAC: [UInt8] = [0x00, 0x03, 0xFF, 0x00, 0x00, 0x0B]

/// A 4,000-byte TCP segment with a 12-byte timestamp option, as a guest's TSO hands it over.
private func largeIPv4Segment(payload: [UInt8], flags: UInt8) -> [UInt8] {
    var frame = serverMAC + clientMAC + [0x08, 0x00]
    let tcpLength = 32
    frame += [0x45, 0x00] + [UInt8((20 + tcpLength + payload.count) >> 8), UInt8((20 + tcpLength + payload.count) & 0xFF)]
    frame += [0x12, 0x34, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00, 10, 0, 0, 1, 10, 0, 0, 2]
    frame += [0x9C, 0x40, 0x14, 0x51]                 // ports 40000 → 5201
    frame += [0x11, 0x22, 0x33, 0x44]                 // sequence
    frame += [0x00, 0x00, 0x00, 0x07]                 // acknowledgement
    frame += [0x80, flags, 0x01, 0xF5, 0x00, 0x00, 0x00, 0x00]  // offset 8 words, window, checksum, urgent
    frame += [0x01, 0x01, 0x08, 0x0A, 0, 0, 0, 1, 0, 0, 0, 2]   // NOP NOP timestamps
    return frame + payload
}

@Suite("Software offloads: checksum completion and TCP segmentation")
struct SoftwareOffloadTests {
    @Test func aLargeIPv4SegmentBecomesWireFramesWithEveryPerSegmentFieldRight() throws {
        let payload = (0..<4_000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        let frame = largeIPv4Segment(payload: payload, flags: 0x19)  // FIN, PSH, ACK
        let header = virtioHeader(gso: 1, headerLength: 66, gsoSize: 1448, checksumStart: 34, checksumOffset: 16)
        var output = [UInt8](repeating: 0, count: 10_000)
        var segments: [[UInt8]] = []
        let count = try frame.withUnsafeBytes { bytes in
            try header.withUnsafeBytes { raw in
                try output.withUnsafeMutableBytes { out in
                    try SoftwareOffload.segmentTCP(bytes, header: try #require(VirtioNetHeader(raw)), into: out) { offset, length in
                        segments.append(Array(out[offset..<offset + length]))
                    }
                }
            }
        }
        #expect(count == 3)
        #expect(segments.map(\.count) == [66 + 1448, 66 + 1448, 66 + 1104])
        var rebuilt: [UInt8] = []
        for (index, segment) in segments.enumerated() {
            let ip = Array(segment[14..<34]), tcp = Array(segment[34...])
            #expect(u16(segment, 16) == segment.count - 14, "segment \(index): IP total length")
            #expect(u16(segment, 18) == 0x1234 + index, "segment \(index): identification")
            #expect(onesComplementSum(ip) == 0xFFFF, "segment \(index): IP header checksum")
            #expect(u32(segment, 38) == 0x1122_3344 &+ UInt32(index * 1448), "segment \(index): sequence number")
            #expect(segment[47] == (index == 2 ? 0x19 : 0x10), "segment \(index): FIN and PSH only on the last")
            let pseudo = Array(segment[26..<34]) + [0, 6, UInt8(tcp.count >> 8), UInt8(tcp.count & 0xFF)]
            #expect(onesComplementSum(pseudo + tcp) == 0xFFFF, "segment \(index): TCP checksum")
            #expect(Array(segment[0..<14]) == Array(frame[0..<14]))
            #expect(Array(segment[54..<66]) == Array(frame[54..<66]), "options copied")
            rebuilt += segment[66...]
        }
        #expect(rebuilt == payload)
    }

    @Test func aTaggedIPv6SegmentIsSplitWithPayloadLengthsAndCWROnTheFirstOnly() throws {
        let payload = [UInt8](repeating: 0xAB, count: 3_000)
        var frame = serverMAC + clientMAC + [0x81, 0x00, 0x00, 0x0A, 0x86, 0xDD]
        frame += [0x60, 0, 0, 0, UInt8((20 + payload.count) >> 8), UInt8((20 + payload.count) & 0xFF), 6, 64]
        frame += [0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1] + [0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]
        frame += [0x9C, 0x40, 0x14, 0x51, 0, 0, 0, 1, 0, 0, 0, 9, 0x50, 0x98, 0x01, 0xF5, 0, 0, 0, 0]  // CWR, PSH, ACK
        frame += payload
        let header = virtioHeader(gso: 4 | 0x80, gsoSize: 1400, checksumStart: 58, checksumOffset: 16)
        var output = [UInt8](repeating: 0, count: 10_000)
        var segments: [[UInt8]] = []
        try frame.withUnsafeBytes { bytes in
            try header.withUnsafeBytes { raw in
                try output.withUnsafeMutableBytes { out in
                    _ = try SoftwareOffload.segmentTCP(bytes, header: try #require(VirtioNetHeader(raw)), into: out) { segments.append(Array(out[$0..<$0 + $1])) }
                }
            }
        }
        #expect(segments.count == 3)
        for (index, segment) in segments.enumerated() {
            let tcp = Array(segment[58...])
            #expect(Array(segment[12..<16]) == [0x81, 0x00, 0x00, 0x0A], "the VLAN tag stays")
            #expect(u16(segment, 22) == tcp.count, "segment \(index): IPv6 payload length")
            #expect(segment[71] & 0x80 == (index == 0 ? 0x80 : 0), "CWR only on the first")
            #expect(segment[71] & 0x08 == (index == 2 ? 0x08 : 0), "PSH only on the last")
            let pseudo = Array(segment[26..<58]) + [0, 0, UInt8(tcp.count >> 8), UInt8(tcp.count & 0xFF), 0, 0, 0, 6]
            #expect(onesComplementSum(pseudo + tcp) == 0xFFFF, "segment \(index): TCP checksum over the IPv6 pseudo-header")
        }
    }

    @Test func aPartialUDPChecksumIsCompletedAndEthernetPaddingIsNotSummed() throws {
        // UDP 10.0.0.1:5000 → 10.0.0.2:6000, 4 bytes of data, checksum field = the pseudo-header
        // sum as a sender leaves it (not complemented), then 10 bytes of Ethernet padding.
        let data: [UInt8] = [1, 2, 3, 4]
        let udpLength = 8 + data.count
        var frame = serverMAC + clientMAC + [0x08, 0x00]
        frame += IPv4Packet.header(source: IPv4Address(10, 0, 0, 1), destination: IPv4Address(10, 0, 0, 2), protocolNumber: .udp, payloadSize: udpLength)
        let pseudo: [UInt8] = [10, 0, 0, 1, 10, 0, 0, 2, 0, 17, 0, UInt8(udpLength)]
        let partial = onesComplementSum(pseudo)
        frame += [0x13, 0x88, 0x17, 0x70, 0, UInt8(udpLength), UInt8(partial >> 8), UInt8(partial & 0xFF)] + data
        frame += [UInt8](repeating: 0xEE, count: 10)
        let header = virtioHeader(gso: 0, checksumStart: 34, checksumOffset: 6)
        var output = [UInt8](repeating: 0, count: 200)
        let length = try frame.withUnsafeBytes { bytes in
            try header.withUnsafeBytes { raw in
                try output.withUnsafeMutableBytes { try SoftwareOffload.completeChecksum(bytes, header: try #require(VirtioNetHeader(raw)), into: $0) }
            }
        }
        #expect(length == frame.count)
        let udp = Array(output[34..<(34 + udpLength)])
        #expect(onesComplementSum(pseudo + udp) == 0xFFFF)
        #expect(Array(output[(34 + udpLength)..<length]) == [UInt8](repeating: 0xEE, count: 10), "padding left as it was")
    }

    @Test func framesItCannotFinishSafelyAreRefused() throws {
        let frame = largeIPv4Segment(payload: [UInt8](repeating: 1, count: 4_000), flags: 0x10)
        var output = [UInt8](repeating: 0, count: 100_000)
        func segment(_ header: [UInt8]) -> SoftwareOffload.Failure? {
            frame.withUnsafeBytes { bytes in
                header.withUnsafeBytes { raw in
                    output.withUnsafeMutableBytes { out -> SoftwareOffload.Failure? in
                        do {
                            guard let parsed = VirtioNetHeader(raw) else { return .malformed }
                            try SoftwareOffload.segmentTCP(bytes, header: parsed, into: out) { _, _ in }
                            return nil
                        } catch {
                            return error as? SoftwareOffload.Failure ?? .malformed
                        }
                    }
                }
            }
        }
        #expect(segment(virtioHeader(gso: 1, gsoSize: 8, checksumStart: 34, checksumOffset: 16)) == .tooManySegments, "a tiny gso_size")
        #expect(segment(virtioHeader(gso: 3, gsoSize: 1448, checksumStart: 34, checksumOffset: 16)) == .unsupported, "UFO")
        #expect(segment(virtioHeader(gso: 4, gsoSize: 1448, checksumStart: 34, checksumOffset: 16)) == .malformed, "TCPv6 type on an IPv4 frame")
        #expect(segment(virtioHeader(gso: 1, gsoSize: 0, checksumStart: 34, checksumOffset: 16)) == .malformed)
        #expect(segment(virtioHeader(gso: 1, gsoSize: 1448, checksumStart: 34, checksumOffset: 16)) == nil)
    }
}
