/// The virtio-net header (10 bytes, little-endian) in front of frames that TAPs, vhost-user and
/// packet sockets with PACKET_VNET_HDR exchange: what is left for the receiver to do.
public struct VirtioNetHeader: Equatable, Sendable {
    public static let size = 10
    public static let needsChecksum: UInt8 = 1
    public enum GSOType: UInt8, Sendable {
        case none = 0, tcpv4 = 1, udp = 3, tcpv6 = 4, udpL4 = 5
    }
    public static let ecnBit: UInt8 = 0x80

    public var flags: UInt8
    /// With the ECN bit cleared; `ecn` holds it.
    public var gsoType: UInt8
    public var ecn: Bool
    public var headerLength: UInt16
    public var gsoSize: UInt16
    public var checksumStart: UInt16
    public var checksumOffset: UInt16

    public init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= Self.size else { return nil }
        flags = bytes[0]
        gsoType = bytes[1] & ~Self.ecnBit
        ecn = bytes[1] & Self.ecnBit != 0
        headerLength = UInt16(bytes[2]) | UInt16(bytes[3]) << 8
        gsoSize = UInt16(bytes[4]) | UInt16(bytes[5]) << 8
        checksumStart = UInt16(bytes[6]) | UInt16(bytes[7]) << 8
        checksumOffset = UInt16(bytes[8]) | UInt16(bytes[9]) << 8
    }

    public var isPlain: Bool { flags & Self.needsChecksum == 0 && gsoType == 0 }
}

/// Finishing in software what a port cannot take: the checksum a sender left to the receiver,
/// and TCP segmentation of a large segment into wire-sized frames (what a NIC's TSO or the
/// kernel's GSO would do). Pure: reads the frame, writes into a caller's buffer, allocates
/// nothing, and refuses (nil) anything it cannot do safely rather than guess.
public enum SoftwareOffload {
    /// Most segments one frame may become. A guest asking for more (a tiny gso_size) gets its
    /// frame dropped, not a burst of tens of thousands of frames.
    public static let maximumSegments = 128

    public enum Failure: Error, Equatable {
        case malformed, unsupported, tooManySegments, noRoom
    }

    /// Writes the frame with its checksum completed into `output`; returns the length.
    public static func completeChecksum(_ frame: UnsafeRawBufferPointer, header: VirtioNetHeader, into output: UnsafeMutableRawBufferPointer) throws(Failure) -> Int {
        guard frame.count <= output.count, let source = frame.baseAddress, let target = output.baseAddress else { throw .noRoom }
        target.copyMemory(from: source, byteCount: frame.count)
        try finishChecksum(UnsafeMutableRawBufferPointer(rebasing: output[0..<frame.count]), start: Int(header.checksumStart), offset: Int(header.checksumOffset))
        return frame.count
    }

    /// Completes a partial checksum in place: the field holds the pseudo-header sum; the sum
    /// from `start` to the end, complemented, goes into it (0 becomes 0xFFFF, as UDP requires).
    static func finishChecksum(_ frame: UnsafeMutableRawBufferPointer, start: Int, offset: Int) throws(Failure) {
        let field = start + offset
        let end = layer3End(UnsafeRawBufferPointer(frame))
        guard start >= 14, field + 2 <= end else { throw .malformed }
        let value = InternetChecksum.of(UnsafeRawBufferPointer(rebasing: frame[start..<end]))
        let stored = value == 0 ? 0xFFFF : value
        frame[field] = UInt8(stored >> 8)
        frame[field + 1] = UInt8(truncatingIfNeeded: stored)
    }

    /// Where the IP packet ends (Ethernet padding after it is not summed), or the frame's end.
    static func layer3End(_ frame: UnsafeRawBufferPointer) -> Int {
        guard frame.count >= 14 else { return frame.count }
        var ip = 14
        var type = frame.u16(12)
        if type == EtherType.vlan.rawValue, frame.count >= 18 {
            ip = 18
            type = frame.u16(16)
        }
        if type == EtherType.ipv4.rawValue, frame.count >= ip + 20 {
            return min(frame.count, ip + Int(frame.u16(ip + 2)))
        }
        if type == EtherType.ipv6.rawValue, frame.count >= ip + 40 {
            return min(frame.count, ip + 40 + Int(frame.u16(ip + 4)))
        }
        return frame.count
    }

    /// Where the headers of a TCP frame are: L2 length (14, or 18 with one 802.1Q tag), the IP
    /// header's offset and version, the TCP header's offset and length.
    struct TCPLayout {
        var ip: Int
        var isIPv6: Bool
        var tcp: Int
        var tcpLength: Int
        var payload: Int { tcp + tcpLength }
    }

    static func tcpLayout(_ frame: UnsafeRawBufferPointer) throws(Failure) -> TCPLayout {
        guard frame.count >= 14 + 20 + 20 else { throw .malformed }
        var ip = 14
        var type = frame.u16(12)
        if type == EtherType.vlan.rawValue {
            ip = 18
            guard frame.count >= 18 + 20 + 20 else { throw .malformed }
            type = frame.u16(16)
        }
        let tcp: Int
        let isIPv6: Bool
        switch type {
        case EtherType.ipv4.rawValue:
            guard frame[ip] >> 4 == 4, frame[ip + 9] == 6 else { throw .unsupported }
            let length = Int(frame[ip] & 0x0F) * 4
            guard length >= 20, frame.u16(ip + 6) & 0x3FFF == 0 else { throw .unsupported }  // no fragments
            tcp = ip + length
            isIPv6 = false
        case EtherType.ipv6.rawValue:
            guard frame[ip] >> 4 == 6, frame[ip + 6] == 6 else { throw .unsupported }  // TCP right after the fixed header
            tcp = ip + 40
            isIPv6 = true
        default:
            throw .unsupported
        }
        guard tcp + 20 <= frame.count else { throw .malformed }
        let tcpLength = Int(frame[tcp + 12] >> 4) * 4
        guard tcpLength >= 20, tcp + tcpLength <= frame.count else { throw .malformed }
        return TCPLayout(ip: ip, isIPv6: isIPv6, tcp: tcp, tcpLength: tcpLength)
    }

    /// Splits a TCP segment larger than the link into frames of `header.gsoSize` payload bytes,
    /// written one after another into `output`; `segment(offset, length)` is called for each,
    /// in order, while the bytes are valid. Every segment gets its own IP total length (IPv4:
    /// identification + index and a fresh header checksum; IPv6: payload length), TCP sequence
    /// number, flags (FIN and PSH only on the last, CWR only on the first) and a full TCP
    /// checksum. Returns the number of segments.
    @discardableResult
    public static func segmentTCP(_ frame: UnsafeRawBufferPointer, header: VirtioNetHeader, into output: UnsafeMutableRawBufferPointer,
                                  _ segment: (_ offset: Int, _ length: Int) -> Void) throws(Failure) -> Int {
        guard header.gsoType == VirtioNetHeader.GSOType.tcpv4.rawValue || header.gsoType == VirtioNetHeader.GSOType.tcpv6.rawValue else { throw .unsupported }
        let layout = try tcpLayout(frame)
        guard layout.isIPv6 == (header.gsoType == VirtioNetHeader.GSOType.tcpv6.rawValue) else { throw .malformed }
        // The lengths written below are 16-bit fields (IPv4 total length, IPv6 payload length,
        // the pseudo-header's TCP length): a frame whose IP part is larger is no IP packet at
        // all, whatever gso_size says (an untagged 65,550-65,553-byte frame is one).
        guard frame.count - layout.ip - (layout.isIPv6 ? 40 : 0) <= 65_535 else { throw .malformed }
        let mss = Int(header.gsoSize)
        let payload = frame.count - layout.payload
        guard mss > 0, payload > 0 else { throw .malformed }
        let count = (payload + mss - 1) / mss
        guard count <= maximumSegments else { throw .tooManySegments }
        guard count * layout.payload + payload <= output.count, let out = output.baseAddress, let source = frame.baseAddress else { throw .noRoom }

        let sequence = frame.u32(layout.tcp + 4)
        let flags = frame[layout.tcp + 13]
        let identification = layout.isIPv6 ? 0 : frame.u16(layout.ip + 4)
        var offset = 0
        for index in 0..<count {
            let chunk = min(mss, payload - index * mss)
            let length = layout.payload + chunk
            let base = out + offset
            base.copyMemory(from: source, byteCount: layout.payload)
            (base + layout.payload).copyMemory(from: source + layout.payload + index * mss, byteCount: chunk)
            let bytes = UnsafeMutableRawBufferPointer(start: base, count: length)
            if layout.isIPv6 {
                bytes.store(u16: UInt16(layout.tcpLength + chunk), at: layout.ip + 4)
            } else {
                bytes.store(u16: UInt16(length - layout.ip), at: layout.ip + 2)
                bytes.store(u16: identification &+ UInt16(truncatingIfNeeded: index), at: layout.ip + 4)
                bytes.store(u16: 0, at: layout.ip + 10)
                let ipLength = layout.tcp - layout.ip
                bytes.store(u16: InternetChecksum.of(UnsafeRawBufferPointer(rebasing: bytes[layout.ip..<layout.ip + ipLength])), at: layout.ip + 10)
            }
            bytes.store(u32: sequence &+ UInt32(index * mss), at: layout.tcp + 4)
            var segmentFlags = flags
            if index != count - 1 { segmentFlags &= ~0x09 }  // FIN, PSH: only on the last segment
            if index != 0 { segmentFlags &= ~0x80 }          // CWR: only on the first
            bytes[layout.tcp + 13] = segmentFlags
            bytes.store(u16: 0, at: layout.tcp + 16)
            bytes.store(u16: tcpChecksum(UnsafeRawBufferPointer(bytes), layout: layout), at: layout.tcp + 16)
            segment(offset, length)
            offset += length
        }
        return count
    }

    /// The full TCP checksum of one segment: pseudo-header (RFC 793 / RFC 8200 §8.1) and segment.
    static func tcpChecksum(_ frame: UnsafeRawBufferPointer, layout: TCPLayout) -> UInt16 {
        var checksum = InternetChecksum()
        let tcpBytes = frame.count - layout.tcp
        if layout.isIPv6 {
            checksum.add(UnsafeRawBufferPointer(rebasing: frame[(layout.ip + 8)..<(layout.ip + 40)]))
            checksum.add(word: UInt16(truncatingIfNeeded: tcpBytes >> 16))
            checksum.add(word: UInt16(truncatingIfNeeded: tcpBytes))
            checksum.add(word: 6)
        } else {
            checksum.add(UnsafeRawBufferPointer(rebasing: frame[(layout.ip + 12)..<(layout.ip + 20)]))
            checksum.add(word: 6)
            checksum.add(word: UInt16(truncatingIfNeeded: tcpBytes))  // ≤ 65,515: segmentTCP refuses larger
        }
        checksum.add(UnsafeRawBufferPointer(rebasing: frame[layout.tcp...]))
        return checksum.value
    }
}

extension UnsafeMutableRawBufferPointer {
    @inline(__always) func store(u16 value: UInt16, at offset: Int) {
        self[offset] = UInt8(value >> 8)
        self[offset + 1] = UInt8(truncatingIfNeeded: value)
    }

    @inline(__always) func store(u32 value: UInt32, at offset: Int) {
        self[offset] = UInt8(value >> 24)
        self[offset + 1] = UInt8(truncatingIfNeeded: value >> 16)
        self[offset + 2] = UInt8(truncatingIfNeeded: value >> 8)
        self[offset + 3] = UInt8(truncatingIfNeeded: value)
    }
}
