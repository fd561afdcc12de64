import Packets

/// Record types (RFC 1035 §3.2.2 and later). An open set: unknown types survive a round trip.
public struct DNSType: RawRepresentable, Hashable, Sendable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public init(_ rawValue: UInt16) { self.rawValue = rawValue }

    public static let a = Self(1)
    public static let ns = Self(2)
    public static let cname = Self(5)
    public static let soa = Self(6)
    public static let ptr = Self(12)
    public static let mx = Self(15)
    public static let txt = Self(16)
    public static let aaaa = Self(28)
    public static let opt = Self(41)
    public static let ixfr = Self(251)
    public static let axfr = Self(252)
    public static let any = Self(255)
}

/// Record classes. Only IN is served; the rest are carried.
public struct DNSClass: RawRepresentable, Hashable, Sendable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public init(_ rawValue: UInt16) { self.rawValue = rawValue }

    public static let internet = Self(1)
    public static let chaos = Self(3)
    public static let any = Self(255)
}

/// An IPv6 address as its 16 bytes, enough for AAAA records and ip6.arpa names.
/// (Packets has no IPv6 address yet; this gives way to it when it has one.)
public struct IPv6AddressBytes: Hashable, Sendable, CustomStringConvertible {
    /// The 16 bytes as two big-endian halves: inline, no allocation per address.
    private let high: UInt64
    private let low: UInt64

    public var bytes: [UInt8] {
        (0..<16).map { index in UInt8(truncatingIfNeeded: (index < 8 ? high : low) >> (56 - 8 * (index % 8))) }
    }

    public init?(bytes: [UInt8]) {
        guard bytes.count == 16 else { return nil }
        high = bytes[0..<8].reduce(0) { $0 << 8 | UInt64($1) }
        low = bytes[8..<16].reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// RFC 4291 §2.2 text: eight groups of up to four hex digits, one `::` allowed; no embedded IPv4.
    public init?(parsing text: String) {
        let doubleColon = text.ranges(of: "::")
        guard doubleColon.count <= 1 else { return nil }
        func groups(_ part: Substring) -> [UInt16]? {
            if part.isEmpty { return [] }
            var values: [UInt16] = []
            for group in part.split(separator: ":", omittingEmptySubsequences: false) {
                guard (1...4).contains(group.count), group.allSatisfy(\.isHexDigit), let value = UInt16(group, radix: 16) else { return nil }
                values.append(value)
            }
            return values
        }
        var values: [UInt16]
        if let range = doubleColon.first {
            guard let head = groups(text[..<range.lowerBound]), let tail = groups(text[range.upperBound...]),
                head.count + tail.count <= 7
            else { return nil }
            values = head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        } else {
            guard let all = groups(Substring(text)), all.count == 8 else { return nil }
            values = all
        }
        high = values[0..<4].reduce(0) { $0 << 16 | UInt64($1) }
        low = values[4..<8].reduce(0) { $0 << 16 | UInt64($1) }
    }

    /// Full form, lowercase, without `::` shortening.
    public var description: String {
        (0..<8).map { index in String(UInt16(truncatingIfNeeded: (index < 4 ? high : low) >> (48 - 16 * (index % 4))), radix: 16) }
            .joined(separator: ":")
    }
}

/// The data of a start-of-authority record (RFC 1035 §3.3.13).
public struct StartOfAuthority: Hashable, Sendable {
    public var primaryServer: DNSName
    public var responsibleMailbox: DNSName
    public var serial: UInt32
    public var refresh: UInt32
    public var retry: UInt32
    public var expire: UInt32
    /// The TTL of negative answers (RFC 2308 §4).
    public var minimum: UInt32

    public init(primaryServer: DNSName, responsibleMailbox: DNSName, serial: UInt32, refresh: UInt32,
                retry: UInt32, expire: UInt32, minimum: UInt32) {
        self.primaryServer = primaryServer
        self.responsibleMailbox = responsibleMailbox
        self.serial = serial
        self.refresh = refresh
        self.retry = retry
        self.expire = expire
        self.minimum = minimum
    }
}

/// Record data, decoded for the types whose data holds names (so compression inside them is
/// followed on parse) and for addresses; any other type keeps its bytes.
public enum DNSRecordData: Hashable, Sendable {
    case a(IPv4Address)
    case aaaa(IPv6AddressBytes)
    case ns(DNSName)
    case cname(DNSName)
    case ptr(DNSName)
    case mx(preference: UInt16, exchange: DNSName)
    case soa(StartOfAuthority)
    case other([UInt8])
}

/// A resource record (RFC 1035 §4.1.3).
public struct DNSRecord: Hashable, Sendable {
    public var name: DNSName
    public var type: DNSType
    public var recordClass: DNSClass
    public var ttl: UInt32
    public var data: DNSRecordData

    public init(name: DNSName, type: DNSType, recordClass: DNSClass = .internet, ttl: UInt32, data: DNSRecordData) {
        self.name = name
        self.type = type
        self.recordClass = recordClass
        self.ttl = ttl
        self.data = data
    }

    /// Equality that tells names' case apart too (round-trip checks; `==` ignores case).
    public func isSpelledLike(_ other: DNSRecord) -> Bool {
        guard self == other, name.isSpelledLike(other.name) else { return false }
        switch (data, other.data) {
        case let (.ns(a), .ns(b)), let (.cname(a), .cname(b)), let (.ptr(a), .ptr(b)): return a.isSpelledLike(b)
        case let (.mx(_, a), .mx(_, b)): return a.isSpelledLike(b)
        case let (.soa(a), .soa(b)):
            return a.primaryServer.isSpelledLike(b.primaryServer) && a.responsibleMailbox.isSpelledLike(b.responsibleMailbox)
        default: return true
        }
    }

    /// Reads the fixed part of a record after its owner name; shared with the OPT pseudo-record.
    static func readFields(_ reader: inout DNSReader) throws(DNSMessageError) -> (type: DNSType, recordClass: UInt16, ttl: UInt32, dataLength: Int) {
        let type = DNSType(try reader.readUInt16())
        let recordClass = try reader.readUInt16()
        let ttl = try reader.readUInt32()
        let length = Int(try reader.readUInt16())
        guard reader.remaining >= length else { throw .truncated(offset: reader.offset) }
        return (type, recordClass, ttl, length)
    }

    /// Decodes `length` bytes of data at the reader's offset for `type`; names inside may point
    /// back into the message, but what they spell out in place must end where the data ends.
    static func readData(_ reader: inout DNSReader, type: DNSType, length: Int) throws(DNSMessageError) -> DNSRecordData {
        let start = reader.offset
        let end = start + length
        let data: DNSRecordData
        switch type {
        case .a:
            guard length == 4 else { throw .badRecordData(offset: start) }
            data = .a(IPv4Address(value: try reader.readUInt32()))
        case .aaaa:
            guard length == 16, let address = IPv6AddressBytes(bytes: try reader.readBytes(16)) else {
                throw .badRecordData(offset: start)
            }
            data = .aaaa(address)
        case .ns, .cname, .ptr:
            var inside = DNSReader(UnsafeRawBufferPointer(rebasing: reader.bytes[..<end]))
            inside.offset = start
            let name = try inside.readName()
            reader.offset = inside.offset
            data = type == .ns ? .ns(name) : type == .cname ? .cname(name) : .ptr(name)
        case .mx:
            var inside = DNSReader(UnsafeRawBufferPointer(rebasing: reader.bytes[..<end]))
            inside.offset = start
            let preference = try inside.readUInt16()
            data = .mx(preference: preference, exchange: try inside.readName())
            reader.offset = inside.offset
        case .soa:
            var inside = DNSReader(UnsafeRawBufferPointer(rebasing: reader.bytes[..<end]))
            inside.offset = start
            let primary = try inside.readName()
            let mailbox = try inside.readName()
            data = .soa(StartOfAuthority(
                primaryServer: primary, responsibleMailbox: mailbox, serial: try inside.readUInt32(),
                refresh: try inside.readUInt32(), retry: try inside.readUInt32(), expire: try inside.readUInt32(),
                minimum: try inside.readUInt32()))
            reader.offset = inside.offset
        default:
            data = .other(try reader.readBytes(length))
        }
        guard reader.offset == end else { throw .badRecordData(offset: start) }
        return data
    }

    static func read(_ reader: inout DNSReader, name: DNSName) throws(DNSMessageError) -> DNSRecord {
        let fields = try readFields(&reader)
        let data = try readData(&reader, type: fields.type, length: fields.dataLength)
        return DNSRecord(name: name, type: fields.type, recordClass: DNSClass(fields.recordClass), ttl: fields.ttl, data: data)
    }

    func write(to writer: inout DNSWriter) {
        writer.write(name)
        writer.write(type.rawValue)
        writer.write(recordClass.rawValue)
        writer.write(ttl)
        let lengthAt = writer.reserveLength()
        switch data {
        case .a(let address): writer.write(address.value)
        case .aaaa(let address): writer.write(address.bytes)
        case .ns(let target), .cname(let target), .ptr(let target): writer.write(target)
        case .mx(let preference, let exchange):
            writer.write(preference)
            writer.write(exchange)
        case .soa(let soa):
            writer.write(soa.primaryServer)
            writer.write(soa.responsibleMailbox)
            for value in [soa.serial, soa.refresh, soa.retry, soa.expire, soa.minimum] { writer.write(value) }
        case .other(let bytes): writer.write(bytes)
        }
        writer.fillLength(at: lengthAt)
    }
}
