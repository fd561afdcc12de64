/// Response codes (RFC 1035 §4.1.1; 16 and up need EDNS, RFC 6891 §6.1.3).
public struct DNSResponseCode: RawRepresentable, Hashable, Sendable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let noError = Self(rawValue: 0)
    public static let formatError = Self(rawValue: 1)
    public static let serverFailure = Self(rawValue: 2)
    public static let nameError = Self(rawValue: 3)
    public static let notImplemented = Self(rawValue: 4)
    public static let refused = Self(rawValue: 5)
    public static let badVersion = Self(rawValue: 16)
}

/// The 12-byte header (RFC 1035 §4.1.1), flags taken apart. The counts live in the sections.
public struct DNSHeader: Hashable, Sendable {
    public static let size = 12

    public var id: UInt16 = 0
    public var isResponse = false
    /// 0 is a standard query.
    public var opcode: UInt8 = 0
    public var isAuthoritative = false
    public var isTruncated = false
    public var recursionDesired = false
    public var recursionAvailable = false
    public var authenticData = false
    public var checkingDisabled = false
    /// The low 4 bits of the response code; the high 8 travel in the OPT record.
    public var responseCodeLow: UInt8 = 0

    public init() {}

    /// The header alone, for a message too broken to parse further (it can still be told FORMERR).
    public init(parsing bytes: UnsafeRawBufferPointer) throws(DNSMessageError) {
        var reader = DNSReader(bytes)
        try self.init(reading: &reader)
    }

    init(reading reader: inout DNSReader) throws(DNSMessageError) {
        id = try reader.readUInt16()
        let flags = try reader.readUInt16()
        isResponse = flags & 0x8000 != 0
        opcode = UInt8(flags >> 11 & 0xF)
        isAuthoritative = flags & 0x0400 != 0
        isTruncated = flags & 0x0200 != 0
        recursionDesired = flags & 0x0100 != 0
        recursionAvailable = flags & 0x0080 != 0
        authenticData = flags & 0x0020 != 0
        checkingDisabled = flags & 0x0010 != 0
        responseCodeLow = UInt8(flags & 0xF)
    }

    var flags: UInt16 {
        var flags = UInt16(opcode & 0xF) << 11 | UInt16(responseCodeLow & 0xF)
        if isResponse { flags |= 0x8000 }
        if isAuthoritative { flags |= 0x0400 }
        if isTruncated { flags |= 0x0200 }
        if recursionDesired { flags |= 0x0100 }
        if recursionAvailable { flags |= 0x0080 }
        if authenticData { flags |= 0x0020 }
        if checkingDisabled { flags |= 0x0010 }
        return flags
    }
}

public struct DNSQuestion: Hashable, Sendable {
    public var name: DNSName
    public var type: DNSType
    public var questionClass: DNSClass

    public init(name: DNSName, type: DNSType, questionClass: DNSClass = .internet) {
        self.name = name
        self.type = type
        self.questionClass = questionClass
    }
}

/// The EDNS(0) OPT pseudo-record (RFC 6891 §6.1), taken out of the additional section.
public struct EDNS: Hashable, Sendable {
    public struct Option: Hashable, Sendable {
        public var code: UInt16
        public var data: [UInt8]
        public init(code: UInt16, data: [UInt8]) {
            self.code = code
            self.data = data
        }
    }

    /// The largest UDP payload the sender can take; values under 512 mean 512 (§6.2.3).
    public var udpPayloadSize: UInt16
    /// The high 8 bits of the 12-bit response code.
    public var extendedResponseCodeHigh: UInt8 = 0
    public var version: UInt8 = 0
    /// DO: the sender wants DNSSEC records (RFC 3225).
    public var dnssecOK = false
    /// The other 15 flag bits, carried as they came.
    public var otherFlags: UInt16 = 0
    public var options: [Option] = []

    public init(udpPayloadSize: UInt16, dnssecOK: Bool = false, options: [Option] = []) {
        self.udpPayloadSize = udpPayloadSize
        self.dnssecOK = dnssecOK
        self.options = options
    }
}

/// A DNS message (RFC 1035 §4.1).
///
/// Parsing checks every length and every name (see `DNSReader.readName`) and throws a
/// `DNSMessageError` for anything malformed; bytes after the last record are ignored, as most
/// servers do. Serializing writes the sections in order, the OPT record last.
public struct DNSMessage: Hashable, Sendable {
    public var header = DNSHeader()
    public var questions: [DNSQuestion] = []
    public var answers: [DNSRecord] = []
    public var authority: [DNSRecord] = []
    /// The additional section without the OPT record, which is `edns`.
    public var additional: [DNSRecord] = []
    public var edns: EDNS?

    public init() {}

    /// The whole response code: the header's 4 bits, widened by EDNS's 8 when present.
    public var responseCode: DNSResponseCode {
        get { DNSResponseCode(rawValue: UInt16(edns?.extendedResponseCodeHigh ?? 0) << 4 | UInt16(header.responseCodeLow)) }
        set {
            header.responseCodeLow = UInt8(newValue.rawValue & 0xF)
            edns?.extendedResponseCodeHigh = UInt8(truncatingIfNeeded: newValue.rawValue >> 4)
        }
    }

    public init(parsing bytes: UnsafeRawBufferPointer) throws(DNSMessageError) {
        var reader = DNSReader(bytes)
        header = try DNSHeader(reading: &reader)
        let questionCount = Int(try reader.readUInt16())
        let answerCount = Int(try reader.readUInt16())
        let authorityCount = Int(try reader.readUInt16())
        let additionalCount = Int(try reader.readUInt16())
        // Counts come from the sender: each entry needs at least 5 (question) or 11 (record) bytes,
        // so a count the message cannot hold fails before any array grows.
        guard questionCount * 5 + (answerCount + authorityCount + additionalCount) * 11 <= reader.remaining else {
            throw .truncated(offset: reader.offset)
        }
        for _ in 0..<questionCount {
            let name = try reader.readName()
            let type = DNSType(try reader.readUInt16())
            questions.append(DNSQuestion(name: name, type: type, questionClass: DNSClass(try reader.readUInt16())))
        }
        for _ in 0..<answerCount { answers.append(try DNSRecord.read(&reader, name: try reader.readName())) }
        for _ in 0..<authorityCount { authority.append(try DNSRecord.read(&reader, name: try reader.readName())) }
        for _ in 0..<additionalCount {
            let name = try reader.readName()
            let start = reader.offset
            guard start + 2 <= bytes.count, UInt16(bytes[start]) << 8 | UInt16(bytes[start + 1]) == DNSType.opt.rawValue else {
                additional.append(try DNSRecord.read(&reader, name: name))
                continue
            }
            guard edns == nil, name.isRoot else { throw .badOPTRecord }
            edns = try Self.readOPT(&reader)
        }
    }

    private static func readOPT(_ reader: inout DNSReader) throws(DNSMessageError) -> EDNS {
        let fields = try DNSRecord.readFields(&reader)
        var edns = EDNS(udpPayloadSize: fields.recordClass)
        edns.extendedResponseCodeHigh = UInt8(fields.ttl >> 24)
        edns.version = UInt8(truncatingIfNeeded: fields.ttl >> 16)
        edns.dnssecOK = fields.ttl & 0x8000 != 0
        edns.otherFlags = UInt16(truncatingIfNeeded: fields.ttl) & 0x7FFF
        let end = reader.offset + fields.dataLength
        while reader.offset < end {
            guard end - reader.offset >= 4 else { throw .badRecordData(offset: reader.offset) }
            let code = try reader.readUInt16()
            let length = Int(try reader.readUInt16())
            guard end - reader.offset >= length else { throw .badRecordData(offset: reader.offset) }
            edns.options.append(EDNS.Option(code: code, data: try reader.readBytes(length)))
        }
        return edns
    }

    /// Wire bytes. With `compressing`, names repeat as pointers to their first spelling.
    public func serialized(compressing: Bool = true) -> [UInt8] {
        var writer = DNSWriter(compresses: compressing)
        writer.write(header.id)
        writer.write(header.flags)
        writer.write(UInt16(truncatingIfNeeded: questions.count))
        writer.write(UInt16(truncatingIfNeeded: answers.count))
        writer.write(UInt16(truncatingIfNeeded: authority.count))
        writer.write(UInt16(truncatingIfNeeded: additional.count + (edns == nil ? 0 : 1)))
        for question in questions {
            writer.write(question.name)
            writer.write(question.type.rawValue)
            writer.write(question.questionClass.rawValue)
        }
        for record in answers + authority + additional { record.write(to: &writer) }
        if let edns {
            writer.write(UInt8(0))
            writer.write(DNSType.opt.rawValue)
            writer.write(edns.udpPayloadSize)
            writer.write(UInt32(edns.extendedResponseCodeHigh) << 24 | UInt32(edns.version) << 16
                | (edns.dnssecOK ? 0x8000 : 0) | UInt32(edns.otherFlags & 0x7FFF))
            let lengthAt = writer.reserveLength()
            for option in edns.options {
                writer.write(option.code)
                writer.write(UInt16(truncatingIfNeeded: option.data.count))
                writer.write(option.data)
            }
            writer.fillLength(at: lengthAt)
        }
        return writer.bytes
    }
}
