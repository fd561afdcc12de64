/// An IPv4 packet (RFC 791) as a view: header validated, payload cut to the total length.
public struct IPv4Packet {
    public struct IPProtocol: RawRepresentable, Hashable, Sendable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let icmp = IPProtocol(rawValue: 1)
        public static let tcp = IPProtocol(rawValue: 6)
        public static let udp = IPProtocol(rawValue: 17)
    }

    public let bytes: UnsafeRawBufferPointer
    public let headerLength: Int
    public let totalLength: Int

    /// Refuses anything but version 4 with a header of 20–60 bytes and a total length that fits the buffer.
    public init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= 20, bytes[0] >> 4 == 4 else { return nil }
        let headerLength = Int(bytes[0] & 0x0F) * 4
        let totalLength = Int(bytes.u16(2))
        guard headerLength >= 20, totalLength >= headerLength, totalLength <= bytes.count else { return nil }
        self.bytes = bytes
        self.headerLength = headerLength
        self.totalLength = totalLength
    }

    public var protocolNumber: IPProtocol { IPProtocol(rawValue: bytes[9]) }
    public var timeToLive: UInt8 { bytes[8] }
    public var source: IPv4Address { IPv4Address(value: bytes.u32(12)) }
    public var destination: IPv4Address { IPv4Address(value: bytes.u32(16)) }
    /// Fragments other than the first carry no transport header.
    public var isFragment: Bool { bytes.u16(6) & 0x3FFF != 0 }
    public var hasValidChecksum: Bool {
        InternetChecksum.of(UnsafeRawBufferPointer(rebasing: bytes[0..<headerLength])) == 0
    }
    public var payload: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: bytes[headerLength..<totalLength]) }

    /// A 20-byte header (no options) with its checksum, for a payload of `payloadSize` bytes.
    public static func header(source: IPv4Address, destination: IPv4Address, protocolNumber: IPProtocol, payloadSize: Int, timeToLive: UInt8 = 64, identification: UInt16 = 0) -> [UInt8] {
        var out: [UInt8] = [0x45, 0x00]
        out.append(u16: UInt16(20 + payloadSize))
        out.append(u16: identification)
        out.append(u16: 0x4000)  // don't fragment
        out.append(timeToLive)
        out.append(protocolNumber.rawValue)
        out.append(u16: 0)
        out.append(u32: source.value)
        out.append(u32: destination.value)
        let checksum = out.withUnsafeBytes { InternetChecksum.of($0) }
        out.set(u16: checksum, at: 10)
        return out
    }
}
