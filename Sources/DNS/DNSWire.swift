/// Reads big-endian fields and names from a message, checking every length before reading.
struct DNSReader {
    let bytes: UnsafeRawBufferPointer
    var offset = 0

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    var remaining: Int { bytes.count - offset }

    mutating func readUInt8() throws(DNSMessageError) -> UInt8 {
        guard offset < bytes.count else { throw .truncated(offset: offset) }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func readUInt16() throws(DNSMessageError) -> UInt16 {
        guard remaining >= 2 else { throw .truncated(offset: offset) }
        defer { offset += 2 }
        return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }

    mutating func readUInt32() throws(DNSMessageError) -> UInt32 {
        let high = try readUInt16()
        return UInt32(high) << 16 | UInt32(try readUInt16())
    }

    mutating func readBytes(_ count: Int) throws(DNSMessageError) -> [UInt8] {
        guard count >= 0, remaining >= count else { throw .truncated(offset: offset) }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    /// A name at `offset`, following compression pointers (RFC 1035 §4.1.4).
    ///
    /// Loop-proof by construction: each pointer must point before the lowest byte of this name
    /// read so far (before the pointer itself, and before where the previous pointer led), so the
    /// positions visited strictly fall; the pointer count and the 255-byte length bound it twice more.
    mutating func readName() throws(DNSMessageError) -> DNSName {
        var labels: [[UInt8]] = []
        var wireLength = 1
        var position = offset
        var lowestVisited = offset
        var pointers = 0
        var resumeAt: Int?
        while true {
            guard position < bytes.count else { throw .truncated(offset: position) }
            let length = bytes[position]
            switch length & 0xC0 {
            case 0xC0:
                guard position + 1 < bytes.count else { throw .truncated(offset: position) }
                let target = Int(length & 0x3F) << 8 | Int(bytes[position + 1])
                guard target < lowestVisited else { throw .pointerNotBackwards(offset: position) }
                pointers += 1
                guard pointers <= DNSName.maximumPointers else { throw .tooManyPointers }
                if resumeAt == nil { resumeAt = position + 2 }
                position = target
                lowestVisited = target
            case 0x00 where length == 0:
                offset = resumeAt ?? position + 1
                return DNSName(checkedLabels: labels)
            case 0x00:
                let count = Int(length)
                wireLength += 1 + count
                guard wireLength <= DNSName.maximumWireLength else { throw .nameTooLong }
                guard position + 1 + count <= bytes.count else { throw .truncated(offset: position) }
                labels.append(Array(bytes[position + 1..<position + 1 + count]))
                position += 1 + count
            default:
                throw .reservedLabelType(offset: position)
            }
        }
    }
}

/// Builds a message, optionally compressing names against the names already written.
struct DNSWriter {
    private(set) var bytes: [UInt8] = []
    let compresses: Bool
    /// Offsets of name suffixes written so far, keyed by their exact bytes: compression never
    /// changes a name's case (a pointer to the query's spelling would), so answers keep the case asked.
    private var suffixOffsets: [[[UInt8]]: Int] = [:]

    init(compresses: Bool, capacity: Int = 512) {
        self.compresses = compresses
        bytes.reserveCapacity(capacity)
    }

    mutating func write(_ value: UInt8) { bytes.append(value) }

    mutating func write(_ value: UInt16) {
        bytes.append(UInt8(value >> 8))
        bytes.append(UInt8(truncatingIfNeeded: value))
    }

    mutating func write(_ value: UInt32) {
        write(UInt16(value >> 16))
        write(UInt16(truncatingIfNeeded: value))
    }

    mutating func write(_ values: [UInt8]) { bytes.append(contentsOf: values) }

    mutating func write(_ name: DNSName) {
        let labels = name.labels
        for index in labels.indices {
            let suffix = Array(labels[index...])
            if compresses, let target = suffixOffsets[suffix] {
                write(UInt16(0xC000) | UInt16(target))
                return
            }
            // Only offsets a 14-bit pointer can reach are worth remembering.
            if compresses, bytes.count < 0x4000 { suffixOffsets[suffix] = bytes.count }
            write(UInt8(labels[index].count))
            write(labels[index])
        }
        write(UInt8(0))
    }

    /// Writes a 16-bit placeholder and returns where it is, for a length known only later.
    mutating func reserveLength() -> Int {
        defer { write(UInt16(0)) }
        return bytes.count
    }

    mutating func fillLength(at position: Int) {
        let length = bytes.count - position - 2
        bytes[position] = UInt8(truncatingIfNeeded: length >> 8)
        bytes[position + 1] = UInt8(truncatingIfNeeded: length)
    }
}
