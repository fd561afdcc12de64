import DNS
import Packets
import Testing

/// Malformed messages: each ends in a typed error, none traps.
@Suite("DNS message parsing of hostile input")
struct DNSMessageParsingTests {
    /// A query header with one question, followed by `body`.
    func message(_ body: [UInt8], questions: UInt8 = 1) -> [UInt8] {
        [0xAB, 0xCD, 0x01, 0x00, 0x00, questions, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00] + body
    }

    func parse(_ bytes: [UInt8]) throws(DNSMessageError) -> DNSMessage {
        let result = bytes.withUnsafeBytes { buffer in Result { () throws(DNSMessageError) in try DNSMessage(parsing: buffer) } }
        return try result.get()
    }

    @Test func aPointerToItselfIsALoopAndRefused() {
        #expect(throws: DNSMessageError.pointerNotBackwards(offset: 12)) { try parse(message([0xC0, 12, 0, 1, 0, 1])) }
    }

    @Test func aPointerForwardIsRefused() {
        #expect(throws: DNSMessageError.pointerNotBackwards(offset: 12)) {
            try parse(message([0xC0, 16, 0, 1, 1, 0x61, 0, 0, 1, 0, 1]))
        }
    }

    /// A label, then a pointer back to that label: strictly backwards from the pointer, yet a loop.
    /// Pointers must go below everything the name has visited, which this one does not.
    @Test func aPointerBackIntoTheSameNameIsALoopAndRefused() {
        #expect(throws: DNSMessageError.pointerNotBackwards(offset: 14)) { try parse(message([1, 0x61, 0xC0, 12, 0, 1, 0, 1])) }
    }

    /// A chain of pointers each going further back parses up to the limit, and not beyond.
    @Test func pointerChainsAreBounded() throws {
        let ok = try parse(pointerChain(DNSName.maximumPointers))
        #expect(ok.questions.last?.name == .root)
        #expect(throws: DNSMessageError.tooManyPointers) { try parse(pointerChain(DNSName.maximumPointers + 1)) }
    }

    /// Question 0 (offset 12) is the root; each next question's name is one pointer to the name of
    /// the question before it, so the last one's name is reached through `length` pointers.
    func pointerChain(_ length: Int) -> [UInt8] {
        var body: [UInt8] = [0, 0, 1, 0, 1]
        var previous = 12
        for _ in 0..<length {
            let here = 12 + body.count
            body += [0xC0, UInt8(previous), 0, 1, 0, 1]
            previous = here
        }
        return message(body, questions: UInt8(length + 1))
    }

    @Test func aNameLongerThan255BytesIsRefused() {
        // Five 63-byte labels: 5 * 64 + 1 = 321 bytes.
        let label: [UInt8] = [63] + [UInt8](repeating: 0x61, count: 63)
        #expect(throws: DNSMessageError.nameTooLong) { try parse(message(Array([label, label, label, label, label].joined()) + [0, 0, 1, 0, 1])) }
        // Exactly 255 through a pointer is fine; one more is not.
        let short: [UInt8] = [61] + [UInt8](repeating: 0x62, count: 61)
        let fits = message(label + label + label + short + [0, 0, 1, 0, 1])
        #expect((try? parse(fits)) != nil)
    }

    @Test func reservedLabelTypesAreRefused() {
        #expect(throws: DNSMessageError.reservedLabelType(offset: 12)) { try parse(message([0x41, 0, 0, 1, 0, 1])) }
        #expect(throws: DNSMessageError.reservedLabelType(offset: 12)) { try parse(message([0x80, 0, 0, 1, 0, 1])) }
    }

    @Test func truncationAnywhereIsATypedError() throws {
        var full = DNSMessage()
        full.header.id = 9
        full.questions = [DNSQuestion(name: try DNSName("web.lab.vnetd.internal"), type: .a)]
        full.answers = [DNSRecord(name: try DNSName("web.lab.vnetd.internal"), type: .a, ttl: 60, data: .a(IPv4Address(10, 0, 0, 1))),
                        DNSRecord(name: try DNSName("web.lab.vnetd.internal"), type: .mx, ttl: 60,
                                  data: .mx(preference: 10, exchange: try DNSName("mail.lab.vnetd.internal")))]
        full.authority = [DNSRecord(name: try DNSName("lab.vnetd.internal"), type: .ns, ttl: 60, data: .ns(try DNSName("ns.lab.vnetd.internal")))]
        full.edns = EDNS(udpPayloadSize: 1232, options: [EDNS.Option(code: 10, data: [1, 2, 3, 4, 5, 6, 7, 8])])
        let bytes = full.serialized()
        let parsed = try parse(bytes)
        #expect(parsed == full && parsed.answers[1].isSpelledLike(full.answers[1]))
        #expect(parsed.serialized(compressing: false).count > bytes.count)
        #expect(try parse(full.serialized(compressing: false)) == full)
        for length in 0..<bytes.count {
            #expect(throws: DNSMessageError.self) { try parse(Array(bytes[0..<length])) }
        }
    }

    @Test func recordDataOfTheWrongLengthIsRefused() {
        // An answer: root owner, type A, class IN, TTL 0, RDLENGTH 3.
        let badA = message([0, 0, 1, 0, 1], questions: 1) + [0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 3, 1, 2, 3]
        var withAnswer = badA
        withAnswer[7] = 1
        #expect(throws: DNSMessageError.badRecordData(offset: 12 + 5 + 11)) { try parse(withAnswer) }
        // A PTR whose name runs past its RDLENGTH.
        var badPTR = message([0, 0, 12, 0, 1]) + [0, 0, 12, 0, 1, 0, 0, 0, 0, 0, 2, 3, 0x61, 0x62, 0x63, 0]
        badPTR[7] = 1
        #expect(throws: DNSMessageError.truncated(offset: 12 + 5 + 11)) { try parse(badPTR) }
    }

    @Test func twoOPTRecordsOrAnOwnedOneAreRefused() {
        let opt: [UInt8] = [0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0]
        var two = message([0, 0, 1, 0, 1] + opt + opt)
        two[11] = 2
        #expect(throws: DNSMessageError.badOPTRecord) { try parse(two) }
        var owned = message([0, 0, 1, 0, 1] + [1, 0x61] + opt)
        owned[11] = 1
        #expect(throws: DNSMessageError.badOPTRecord) { try parse(owned) }
    }

    @Test func countsLargerThanTheMessageFailBeforeAllocating() {
        let huge: [UInt8] = [0, 1, 0x01, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
        #expect(throws: DNSMessageError.truncated(offset: 12)) { try parse(huge) }
    }
}
