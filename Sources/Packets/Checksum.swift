/// The Internet checksum (RFC 1071): the ones' complement of the ones' complement sum of 16-bit words.
public struct InternetChecksum: Sendable {
    private var sum: UInt32 = 0
    /// A byte left over from an odd-length chunk, waiting for its partner.
    private var pending: UInt8?

    public init() {}

    public mutating func add(_ bytes: UnsafeRawBufferPointer) {
        var index = 0
        if let high = pending, !bytes.isEmpty {
            sum &+= UInt32(high) << 8 | UInt32(bytes[0])
            pending = nil
            index = 1
        }
        while index + 1 < bytes.count {
            sum &+= UInt32(bytes[index]) << 8 | UInt32(bytes[index + 1])
            index += 2
            if sum & 0x8000_0000 != 0 { fold() }
        }
        if index < bytes.count { pending = bytes[index] }
    }

    public mutating func add<Bytes: Collection>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        Array(bytes).withUnsafeBytes { add($0) }
    }

    public mutating func add(word: UInt16) {
        if let high = pending {
            // An odd byte is waiting: the word's bytes shift by one, as `add(_:)` would.
            sum &+= UInt32(high) << 8 | UInt32(word >> 8)
            pending = UInt8(truncatingIfNeeded: word)
        } else {
            sum &+= UInt32(word)
        }
        if sum & 0x8000_0000 != 0 { fold() }
    }

    private mutating func fold() {
        sum = (sum & 0xFFFF) &+ (sum >> 16)
    }

    /// The checksum to store in a header.
    public var value: UInt16 {
        var copy = self
        if let high = copy.pending { copy.sum &+= UInt32(high) << 8 }
        while copy.sum >> 16 != 0 { copy.fold() }
        return ~UInt16(truncatingIfNeeded: copy.sum)
    }

    public static func of(_ bytes: UnsafeRawBufferPointer) -> UInt16 {
        var checksum = InternetChecksum()
        checksum.add(bytes)
        return checksum.value
    }
}

extension UnsafeRawBufferPointer {
    @inline(__always) func u16(_ offset: Int) -> UInt16 {
        UInt16(self[offset]) << 8 | UInt16(self[offset + 1])
    }

    @inline(__always) func u32(_ offset: Int) -> UInt32 {
        UInt32(self[offset]) << 24 | UInt32(self[offset + 1]) << 16 | UInt32(self[offset + 2]) << 8 | UInt32(self[offset + 3])
    }

    @inline(__always) func mac(_ offset: Int) -> MACAddress {
        var value: UInt64 = 0
        for index in offset..<offset + 6 { value = value << 8 | UInt64(self[index]) }
        return MACAddress(value: value)
    }
}

extension Array where Element == UInt8 {
    mutating func append(u16 value: UInt16) {
        append(UInt8(value >> 8))
        append(UInt8(truncatingIfNeeded: value))
    }

    mutating func append(u32 value: UInt32) {
        append(UInt8(value >> 24))
        append(UInt8(truncatingIfNeeded: value >> 16))
        append(UInt8(truncatingIfNeeded: value >> 8))
        append(UInt8(truncatingIfNeeded: value))
    }

    mutating func append(mac: MACAddress) {
        append(contentsOf: mac.octets)
    }

    mutating func set(u16 value: UInt16, at offset: Int) {
        self[offset] = UInt8(value >> 8)
        self[offset + 1] = UInt8(truncatingIfNeeded: value)
    }
}
