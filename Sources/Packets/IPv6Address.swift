/// A 128-bit IPv6 address as two big-endian halves: inline, hashable without touching memory.
public struct IPv6Address: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let high: UInt64
    public let low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    public init?<Bytes: Collection>(bytes: Bytes) where Bytes.Element == UInt8 {
        guard bytes.count == 16 else { return nil }
        var high: UInt64 = 0, low: UInt64 = 0
        for (index, byte) in bytes.enumerated() {
            if index < 8 { high = high << 8 | UInt64(byte) } else { low = low << 8 | UInt64(byte) }
        }
        self.init(high: high, low: low)
    }

    public static let unspecified = IPv6Address(high: 0, low: 0)
    /// ff02::1, every node on the link.
    public static let allNodes = IPv6Address(high: 0xFF02_0000_0000_0000, low: 1)
    /// ff02::2, every router on the link.
    public static let allRouters = IPv6Address(high: 0xFF02_0000_0000_0000, low: 2)

    public var bytes: [UInt8] {
        (0..<16).map { UInt8(truncatingIfNeeded: ($0 < 8 ? high : low) >> (56 - 8 * UInt64($0 % 8))) }
    }

    public var isUnspecified: Bool { high == 0 && low == 0 }
    public var isMulticast: Bool { high >> 56 == 0xFF }
    /// fe80::/10.
    public var isLinkLocal: Bool { high >> 54 == 0x3FA }

    /// The link-local address with the modified EUI-64 interface identifier of `mac` (RFC 4291 §2.5.1).
    public static func linkLocal(mac: MACAddress) -> IPv6Address {
        IPv6Address(high: 0xFE80_0000_0000_0000, low: interfaceIdentifier(mac: mac))
    }

    /// The modified EUI-64 interface identifier: ff:fe in the middle, the universal/local bit flipped.
    public static func interfaceIdentifier(mac: MACAddress) -> UInt64 {
        let value = mac.value
        return ((value >> 24) << 40 | 0xFF_FE00_0000 | (value & 0xFF_FFFF)) ^ 0x0200_0000_0000_0000
    }

    /// The Ethernet multicast address IPv6 multicast `self` maps to (RFC 2464 §7): 33:33 and the low 32 bits.
    public var multicastMAC: MACAddress { MACAddress(value: 0x3333_0000_0000 | (low & 0xFFFF_FFFF)) }

    /// RFC 5952 text: lower case, the longest run of two or more zero groups as `::`.
    public var description: String {
        let groups = (0..<8).map { UInt16(truncatingIfNeeded: ($0 < 4 ? high : low) >> (48 - 16 * UInt64($0 % 4))) }
        var best = (start: -1, length: 0), run = (start: -1, length: 0)
        for (index, group) in groups.enumerated() {
            if group == 0 {
                run = run.start < 0 ? (index, 1) : (run.start, run.length + 1)
                if run.length > best.length { best = run }
            } else {
                run = (-1, 0)
            }
        }
        let hex = groups.map { String($0, radix: 16) }
        guard best.length >= 2 else { return hex.joined(separator: ":") }
        return hex[..<best.start].joined(separator: ":") + "::" + hex[(best.start + best.length)...].joined(separator: ":")
    }

    public static func < (lhs: IPv6Address, rhs: IPv6Address) -> Bool { (lhs.high, lhs.low) < (rhs.high, rhs.low) }
}
