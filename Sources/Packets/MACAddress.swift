/// A 48-bit IEEE 802 MAC address, stored in the low 48 bits of a `UInt64` so that switching code
/// can hash and compare it without touching memory.
///
/// Parsing accepts the three forms administrators meet: `00-03-FF-12-34-56` (Windows, Virtual
/// Server), `00:03:ff:12:34:56` (Linux, QEMU) and `0003FF123456`, in either case. The canonical
/// text form is lower-case with colons, as `ip link` and QEMU print it.
public struct MACAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The address in the low 48 bits, first octet most significant.
    public let value: UInt64

    public init(value: UInt64) {
        self.value = value & 0xFFFF_FFFF_FFFF
    }

    public init(_ octets: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)) {
        self.init(octets: [octets.0, octets.1, octets.2, octets.3, octets.4, octets.5])
    }

    /// Builds an address from six octets; nil for any other count.
    public init?<Bytes: Collection>(octets: Bytes) where Bytes.Element == UInt8 {
        guard octets.count == 6 else { return nil }
        self.init(value: octets.reduce(0) { $0 << 8 | UInt64($1) })
    }

    private init(octets: [UInt8]) {
        self.init(value: octets.reduce(0) { $0 << 8 | UInt64($1) })
    }

    /// Parses `00-03-FF-12-34-56`, `00:03:ff:12:34:56` or `0003FF123456`; nil for anything else.
    public init?(parsing text: String) {
        let utf8 = Array(text.utf8)
        var digits: [UInt8] = []
        digits.reserveCapacity(12)
        switch utf8.count {
        case 12:
            digits = utf8
        case 17:
            let separator = utf8[2]
            guard separator == UInt8(ascii: ":") || separator == UInt8(ascii: "-") else { return nil }
            for (index, byte) in utf8.enumerated() {
                if index % 3 == 2 {
                    guard byte == separator else { return nil }
                } else {
                    digits.append(byte)
                }
            }
        default:
            return nil
        }
        var value: UInt64 = 0
        for digit in digits {
            guard let nibble = Self.hexValue(digit) else { return nil }
            value = value << 4 | UInt64(nibble)
        }
        self.init(value: value)
    }

    public static let broadcast = MACAddress(value: 0xFFFF_FFFF_FFFF)
    public static let zero = MACAddress(value: 0)

    public var octets: [UInt8] {
        (0..<6).map { UInt8(truncatingIfNeeded: value >> (40 - 8 * UInt64($0))) }
    }

    /// Group (multicast or broadcast) addresses have the least significant bit of the first octet set.
    public var isMulticast: Bool { value & 0x0100_0000_0000 != 0 }
    public var isBroadcast: Bool { self == .broadcast }
    public var isUnicast: Bool { !isMulticast }
    public var isZero: Bool { value == 0 }
    /// The second-least significant bit of the first octet: assigned locally rather than by a vendor.
    public var isLocallyAdministered: Bool { value & 0x0200_0000_0000 != 0 }
    /// The first three octets (organisationally unique identifier), e.g. 0x0003FF.
    public var prefix: UInt32 { UInt32(value >> 24) }

    /// `00:03:ff:12:34:56`
    public var description: String { formatted(separator: ":", uppercase: false) }

    public func formatted(separator: String, uppercase: Bool) -> String {
        let digits: [Character] = Array(uppercase ? "0123456789ABCDEF" : "0123456789abcdef")
        var text = ""
        text.reserveCapacity(17)
        for (index, octet) in octets.enumerated() {
            if index > 0 { text += separator }
            text.append(digits[Int(octet >> 4)])
            text.append(digits[Int(octet & 0xF)])
        }
        return text
    }

    public static func < (lhs: MACAddress, rhs: MACAddress) -> Bool { lhs.value < rhs.value }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
