/// An ARP packet for IPv4 over Ethernet (RFC 826), as a view over the frame's payload.
public struct ARPPacket {
    public static let size = 28

    public struct Operation: RawRepresentable, Hashable, Sendable {
        public let rawValue: UInt16
        public init(rawValue: UInt16) { self.rawValue = rawValue }
        public static let request = Operation(rawValue: 1)
        public static let reply = Operation(rawValue: 2)
    }

    public let bytes: UnsafeRawBufferPointer

    /// Accepts only Ethernet (1) / IPv4 (0x0800) ARP with 6- and 4-byte addresses.
    public init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= Self.size, bytes.u16(0) == 1, bytes.u16(2) == 0x0800, bytes[4] == 6, bytes[5] == 4 else {
            return nil
        }
        self.bytes = bytes
    }

    public var operation: Operation { Operation(rawValue: bytes.u16(6)) }
    public var senderMAC: MACAddress { bytes.mac(8) }
    public var senderIP: IPv4Address { IPv4Address(value: bytes.u32(14)) }
    public var targetMAC: MACAddress { bytes.mac(18) }
    public var targetIP: IPv4Address { IPv4Address(value: bytes.u32(24)) }

    /// A complete Ethernet frame carrying an ARP packet.
    public static func frame(
        operation: Operation, senderMAC: MACAddress, senderIP: IPv4Address, targetMAC: MACAddress, targetIP: IPv4Address,
        destination: MACAddress
    ) -> [UInt8] {
        var out = EthernetBuilder.header(destination: destination, source: senderMAC, type: .arp)
        out.append(u16: 1)
        out.append(u16: 0x0800)
        out.append(6)
        out.append(4)
        out.append(u16: operation.rawValue)
        out.append(mac: senderMAC)
        out.append(u32: senderIP.value)
        out.append(mac: targetMAC)
        out.append(u32: targetIP.value)
        return out
    }
}
