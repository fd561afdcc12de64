/// EtherType codes. An open set: unknown values survive.
public struct EtherType: RawRepresentable, Hashable, Sendable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let ipv4 = EtherType(rawValue: 0x0800)
    public static let arp = EtherType(rawValue: 0x0806)
    public static let vlan = EtherType(rawValue: 0x8100)
    public static let ipv6 = EtherType(rawValue: 0x86DD)
}

/// An Ethernet II frame, optionally with one 802.1Q tag, as a view over bytes.
///
/// Contract: `init` checks every length once; afterwards no accessor can read out of bounds,
/// whatever the bytes are. The view borrows the buffer: use it only while the buffer is alive.
/// Frames carry no FCS (the kernel and QEMU strip it).
public struct EthernetFrame {
    public static let headerSize = 14
    public static let vlanTagSize = 4

    public let bytes: UnsafeRawBufferPointer
    /// Offset of the EtherType field actually describing the payload (12, or 16 after a tag).
    private let typeOffset: Int

    public init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= Self.headerSize else { return nil }
        if bytes.u16(12) == EtherType.vlan.rawValue {
            guard bytes.count >= Self.headerSize + Self.vlanTagSize else { return nil }
            typeOffset = 16
        } else {
            typeOffset = 12
        }
        self.bytes = bytes
    }

    public var destination: MACAddress { bytes.mac(0) }
    public var source: MACAddress { bytes.mac(6) }
    /// The 802.1Q VLAN id (12 bits), when the frame is tagged.
    public var vlanID: UInt16? { typeOffset == 16 ? bytes.u16(14) & 0x0FFF : nil }
    /// The 802.1Q priority code point, when tagged.
    public var priority: UInt8? { typeOffset == 16 ? UInt8(bytes[14] >> 5) : nil }
    public var etherType: EtherType { EtherType(rawValue: bytes.u16(typeOffset)) }
    public var payload: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: bytes[(typeOffset + 2)...]) }

    /// Destination and source, read without building a view: the switch's hot path.
    @inline(__always)
    public static func addresses(of bytes: UnsafeRawBufferPointer) -> (destination: MACAddress, source: MACAddress)? {
        guard bytes.count >= headerSize else { return nil }
        return (bytes.mac(0), bytes.mac(6))
    }
}

/// Builds Ethernet frames; the payload is appended by the caller.
public enum EthernetBuilder {
    public static func header(destination: MACAddress, source: MACAddress, type: EtherType, vlanID: UInt16? = nil) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(18)
        out.append(mac: destination)
        out.append(mac: source)
        if let vlanID {
            out.append(u16: EtherType.vlan.rawValue)
            out.append(u16: vlanID & 0x0FFF)
        }
        out.append(u16: type.rawValue)
        return out
    }
}
