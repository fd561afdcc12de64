/// Every way a DNS message can be malformed. Parsing never traps: each bad input ends in one of these.
public enum DNSMessageError: Error, Equatable, Sendable {
    /// The message ended inside a field that starts at `offset`.
    case truncated(offset: Int)
    /// A label longer than 63 bytes (text input only: on the wire the length byte cannot say more).
    case labelTooLong
    /// An empty label inside a name written as text (`a..b`).
    case emptyLabel
    /// A name longer than 255 bytes in wire form (RFC 1035 §2.3.4), compression pointers followed.
    case nameTooLong
    /// A compression pointer at `offset` that does not point before every byte of the name read so
    /// far: the only kind of pointer that can never loop.
    case pointerNotBackwards(offset: Int)
    /// More compression pointers in one name than `DNSName.maximumPointers`.
    case tooManyPointers
    /// A label type other than a length (00) or a pointer (11): 01 and 10 are reserved (RFC 6891 §5).
    case reservedLabelType(offset: Int)
    /// A record's RDATA whose length does not match its type, or a name inside it that runs past it.
    case badRecordData(offset: Int)
    /// More than one OPT record, or an OPT record not owned by the root (RFC 6891 §6.1.1).
    case badOPTRecord
}

/// A domain name as a list of labels, each kept with the bytes (and so the case) it arrived with.
///
/// Equality and hashing ignore ASCII case (RFC 4343), so a name found in a zone compares equal to the
/// query's spelling of it; code that must keep the query's case uses the query's `DNSName` value.
public struct DNSName: Hashable, Sendable, CustomStringConvertible {
    public static let maximumWireLength = 255
    public static let maximumLabelLength = 63
    /// Pointers followed in one name at most; with every pointer going strictly backwards this is
    /// a second bound, so a hostile message costs little work.
    public static let maximumPointers = 32

    public let labels: [[UInt8]]

    public static let root = DNSName(checkedLabels: [])

    public init(labels: [[UInt8]]) throws(DNSMessageError) {
        for label in labels {
            guard !label.isEmpty else { throw .emptyLabel }
            guard label.count <= Self.maximumLabelLength else { throw .labelTooLong }
        }
        guard labels.reduce(1, { $0 + 1 + $1.count }) <= Self.maximumWireLength else { throw .nameTooLong }
        self.labels = labels
    }

    /// A name written as text: labels separated by dots, a trailing dot allowed, "" or "." the root.
    /// No escapes: every byte other than a dot is taken as it is.
    public init(_ text: String) throws(DNSMessageError) {
        var body = Array(text.utf8)
        if body.last == UInt8(ascii: ".") { body.removeLast() }
        if body.isEmpty {
            self.init(checkedLabels: [])
            return
        }
        try self.init(labels: body.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false).map(Array.init))
    }

    init(checkedLabels: [[UInt8]]) {
        labels = checkedLabels
    }

    /// Bytes this name takes on the wire without compression.
    public var wireLength: Int { labels.reduce(1) { $0 + 1 + $1.count } }

    public var isRoot: Bool { labels.isEmpty }

    /// Whether `self` is `zone` or a name under it, ignoring case.
    public func isSubdomain(of zone: DNSName) -> Bool {
        guard labels.count >= zone.labels.count else { return false }
        return zip(labels.suffix(zone.labels.count), zone.labels).allSatisfy { Self.equalIgnoringCase($0, $1) }
    }

    /// `self` under `parent`, or nil when the result would exceed 255 bytes.
    public func appending(_ parent: DNSName) -> DNSName? {
        try? DNSName(labels: labels + parent.labels)
    }

    /// The labels in front of `zone` when `self` is under it (the relative name), else nil.
    public func relative(to zone: DNSName) -> [[UInt8]]? {
        isSubdomain(of: zone) ? Array(labels.dropLast(zone.labels.count)) : nil
    }

    /// Dotted, with a trailing dot; dots and bytes outside printable ASCII inside a label as
    /// `\.` and `\DDD` (the zone-file convention, as dig prints them).
    public var description: String {
        if labels.isEmpty { return "." }
        var text = ""
        for label in labels {
            for byte in label {
                switch byte {
                case UInt8(ascii: "."), UInt8(ascii: "\\"): text += "\\" + String(UnicodeScalar(byte))
                case 0x21...0x7E: text.unicodeScalars.append(UnicodeScalar(byte))
                default: text += "\\" + String(repeating: "0", count: byte < 10 ? 2 : byte < 100 ? 1 : 0) + String(byte)
                }
            }
            text += "."
        }
        return text
    }

    public static func == (lhs: DNSName, rhs: DNSName) -> Bool {
        lhs.labels.count == rhs.labels.count && zip(lhs.labels, rhs.labels).allSatisfy { equalIgnoringCase($0, $1) }
    }

    public func hash(into hasher: inout Hasher) {
        for label in labels {
            hasher.combine(label.count)
            for byte in label { hasher.combine(Self.lowercased(byte)) }
        }
    }

    /// Whether both names have the same bytes, case included.
    public func isSpelledLike(_ other: DNSName) -> Bool { labels == other.labels }

    static func lowercased(_ byte: UInt8) -> UInt8 {
        (0x41...0x5A).contains(byte) ? byte | 0x20 : byte
    }

    static func equalIgnoringCase(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        lhs.count == rhs.count && zip(lhs, rhs).allSatisfy { lowercased($0) == lowercased($1) }
    }
}
