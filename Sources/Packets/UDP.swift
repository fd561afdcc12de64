/// A UDP datagram (RFC 768) as a view: payload cut to the UDP length.
public struct UDPDatagram {
    public static let headerSize = 8
    public let bytes: UnsafeRawBufferPointer
    public let length: Int

    public init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= Self.headerSize else { return nil }
        let length = Int(bytes.u16(4))
        guard length >= Self.headerSize, length <= bytes.count else { return nil }
        self.bytes = bytes
        self.length = length
    }

    public var sourcePort: UInt16 { bytes.u16(0) }
    public var destinationPort: UInt16 { bytes.u16(2) }
    public var checksum: UInt16 { bytes.u16(6) }
    public var payload: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: bytes[Self.headerSize..<length]) }

    /// True when the checksum is absent (0) or right for the pseudo-header of `source` and `destination`.
    public func hasValidChecksum(source: IPv4Address, destination: IPv4Address) -> Bool {
        guard checksum != 0 else { return true }
        var sum = Self.pseudoHeader(source: source, destination: destination, length: length)
        sum.add(UnsafeRawBufferPointer(rebasing: bytes[0..<length]))
        return sum.value == 0
    }

    static func pseudoHeader(source: IPv4Address, destination: IPv4Address, length: Int) -> InternetChecksum {
        var sum = InternetChecksum()
        sum.add(word: UInt16(source.value >> 16))
        sum.add(word: UInt16(truncatingIfNeeded: source.value))
        sum.add(word: UInt16(destination.value >> 16))
        sum.add(word: UInt16(truncatingIfNeeded: destination.value))
        sum.add(word: UInt16(IPv4Packet.IPProtocol.udp.rawValue))
        sum.add(word: UInt16(length))
        return sum
    }

    /// A complete Ethernet + IPv4 + UDP frame around `payload`, lengths and checksums filled in
    /// (built inside-out: the payload decides every length before it).
    public static func frame(
        sourceMAC: MACAddress, destinationMAC: MACAddress,
        source: IPv4Address, destination: IPv4Address, sourcePort: UInt16, destinationPort: UInt16,
        payload: [UInt8]
    ) -> [UInt8] {
        let udpLength = headerSize + payload.count
        var udp: [UInt8] = []
        udp.reserveCapacity(udpLength)
        udp.append(u16: sourcePort)
        udp.append(u16: destinationPort)
        udp.append(u16: UInt16(udpLength))
        udp.append(u16: 0)
        udp.append(contentsOf: payload)
        var sum = pseudoHeader(source: source, destination: destination, length: udpLength)
        udp.withUnsafeBytes { sum.add($0) }
        let checksum = sum.value
        udp.set(u16: checksum == 0 ? 0xFFFF : checksum, at: 6)
        var frame = EthernetBuilder.header(destination: destinationMAC, source: sourceMAC, type: .ipv4)
        frame += IPv4Packet.header(source: source, destination: destination, protocolNumber: .udp, payloadSize: udpLength)
        frame += udp
        return frame
    }
}
