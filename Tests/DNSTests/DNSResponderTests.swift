import DNS
import Packets
import Testing

@Suite("DNS responder for one network's zone")
struct DNSResponderTests {
    let domain = try! DNSName("lab.vnetd.internal")
    let web4 = IPv4Address(192, 168, 77, 10)
    let web6 = IPv6AddressBytes(parsing: "fd00:77::10")!

    /// A name written in the test, known to be valid.
    func name(_ text: String) -> DNSName { try! DNSName(text) }

    func zone(forwards: Bool = false, extra: [String: [HostAddress]] = [:]) -> Zone {
        Zone(domain: domain, records: ["web": [.ipv4(web4), .ipv6(web6)], "db": [.ipv4(IPv4Address(192, 168, 77, 11))],
                                       "a.deep": [.ipv4(IPv4Address(192, 168, 77, 12))]].merging(extra) { $1 },
             ttl: 60, serial: 7, forwardsOutside: forwards)
    }

    func query(_ name: String, _ type: DNSType, id: UInt16 = 0x1234, edns: EDNS? = nil) throws -> [UInt8] {
        var message = DNSMessage()
        message.header.id = id
        message.header.recursionDesired = true
        message.questions = [DNSQuestion(name: self.name(name), type: type)]
        message.edns = edns
        return message.serialized()
    }

    func respond(_ bytes: [UInt8], zone: Zone? = nil) -> DNSResponder.Response {
        bytes.withUnsafeBytes { DNSResponder(zone: zone ?? self.zone()).respond(to: $0) }
    }

    func reply(_ bytes: [UInt8], zone: Zone? = nil) throws -> (message: DNSMessage, wire: [UInt8]) {
        guard case .answer(let wire) = respond(bytes, zone: zone) else {
            Issue.record("expected an answer")
            throw DNSMessageError.truncated(offset: 0)
        }
        return (try wire.withUnsafeBytes { try DNSMessage(parsing: $0) }, wire)
    }

    @Test func aAndAAAAForAVMName() throws {
        let a = try reply(try query("web.lab.vnetd.internal", .a)).message
        #expect(a.header.id == 0x1234 && a.header.isResponse && a.header.isAuthoritative && a.header.recursionDesired)
        #expect(a.responseCode == .noError && !a.header.recursionAvailable)
        #expect(a.answers.map(\.data) == [.a(web4)] && a.answers.allSatisfy { $0.ttl == 60 })
        let aaaa = try reply(try query("web.lab.vnetd.internal", .aaaa)).message
        #expect(aaaa.answers.map(\.data) == [.aaaa(web6)])
        let any = try reply(try query("web.lab.vnetd.internal", .any)).message
        #expect(Set(any.answers.map(\.data)) == [.a(web4), .aaaa(web6)])
    }

    @Test func answersKeepTheCaseOfTheQuery() throws {
        let asked = name("WeB.Lab.VNETD.internal")
        let (message, _) = try reply(try query("WeB.Lab.VNETD.internal", .a))
        #expect(message.questions.first?.name.isSpelledLike(asked) == true)
        #expect(message.answers.first?.name.isSpelledLike(asked) == true)
        #expect(message.answers.map(\.data) == [.a(web4)])
    }

    @Test func reversePTRForIPv4AndIPv6() throws {
        let v4 = try reply(try query("10.77.168.192.in-addr.arpa", .ptr)).message
        #expect(v4.header.isAuthoritative && v4.answers.map(\.data) == [.ptr(name("web.lab.vnetd.internal"))])
        let nibbles = "0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.7.7.0.0.0.0.d.f.ip6.arpa"
        #expect(HostAddress.ipv6(web6).reverseName == (name(nibbles)))
        let v6 = try reply(try query(nibbles.uppercased(), .ptr)).message
        #expect(v6.answers.map(\.data) == [.ptr(name("web.lab.vnetd.internal"))])
        // Two names for one address: both PTRs.
        let shared = zone(extra: ["www": [.ipv4(web4)]])
        let both = try reply(try query("10.77.168.192.in-addr.arpa", .ptr), zone: shared).message
        #expect(Set(both.answers.map(\.data)) == [.ptr(name("web.lab.vnetd.internal")), .ptr(name("www.lab.vnetd.internal"))])
    }

    @Test func nxdomainWithSOAForAMissingNameInTheZone() throws {
        let message = try reply(try query("nothere.lab.vnetd.internal", .a)).message
        #expect(message.responseCode == .nameError && message.header.isAuthoritative && message.answers.isEmpty)
        let soa = try #require(message.authority.first)
        #expect(message.authority.count == 1 && soa.type == .soa && soa.name == domain && soa.ttl == 60)
        guard case .soa(let data) = soa.data else { Issue.record("SOA data"); return }
        #expect(data.serial == 7 && data.minimum == 60 && data.responsibleMailbox == (name("hostmaster.lab.vnetd.internal")))
    }

    @Test func nodataForANameWithoutTheTypeAndForAnEmptyNonTerminal() throws {
        for (name, type) in [("db.lab.vnetd.internal", DNSType.aaaa), ("web.lab.vnetd.internal", .mx), ("deep.lab.vnetd.internal", .a),
                             ("lab.vnetd.internal", .a)] {
            let message = try reply(try query(name, type)).message
            #expect(message.responseCode == .noError && message.answers.isEmpty, "\(name)")
            #expect(message.authority.map(\.type) == [.soa], "\(name)")
        }
        let apex = try reply(try query("LAB.vnetd.internal", .soa)).message
        #expect(apex.answers.map(\.type) == [.soa] && apex.answers.first?.name.isSpelledLike(name("LAB.vnetd.internal")) == true)
    }

    @Test func outsideTheZoneIsRefusedOrForwarded() throws {
        let refused = try reply(try query("example.com", .a)).message
        #expect(refused.responseCode == .refused && !refused.header.isAuthoritative && refused.questions.count == 1)
        let unknownReverse = try reply(try query("99.77.168.192.in-addr.arpa", .ptr)).message
        #expect(unknownReverse.responseCode == .refused)
        let bytes = try query("example.com", .a)
        guard case .forward(let message) = respond(bytes, zone: zone(forwards: true)) else { Issue.record("not forwarded"); return }
        #expect(message.questions.first?.name == (name("example.com")) && message.header.id == 0x1234)
        let inside = try reply(try query("web.lab.vnetd.internal", .a), zone: zone(forwards: true)).message
        #expect(inside.header.recursionAvailable && inside.answers.count == 1)
    }

    @Test func ednsIsEchoedWithOurSizeAndDOBit() throws {
        let message = try reply(try query("web.lab.vnetd.internal", .a, edns: EDNS(udpPayloadSize: 4096, dnssecOK: true))).message
        #expect(message.edns == EDNS(udpPayloadSize: 1232, dnssecOK: true))
        var future = EDNS(udpPayloadSize: 1232)
        future.version = 1
        let badVersion = try reply(try query("web.lab.vnetd.internal", .a, edns: future)).message
        #expect(badVersion.responseCode == .badVersion && badVersion.answers.isEmpty)
    }

    @Test func answersLargerThanTheClientsUDPSizeAreTruncated() throws {
        let many = (1...40).map { HostAddress.ipv4(IPv4Address(192, 168, 78, UInt8($0))) }
        let big = zone(extra: ["many": many])
        let (plain, plainWire) = try reply(try query("many.lab.vnetd.internal", .a), zone: big)
        #expect(plain.header.isTruncated && plain.answers.isEmpty && plain.questions.count == 1 && plainWire.count <= 512)
        let (large, largeWire) = try reply(try query("many.lab.vnetd.internal", .a, edns: EDNS(udpPayloadSize: 1232)), zone: big)
        #expect(!large.header.isTruncated && large.answers.count == 40 && largeWire.count > 512)
        let overTCP = try query("many.lab.vnetd.internal", .a).withUnsafeBytes { DNSResponder(zone: big).respond(to: $0, overTCP: true) }
        guard case .answer(let tcpWire) = overTCP else { Issue.record("no answer over TCP"); return }
        let tcp = try tcpWire.withUnsafeBytes { try DNSMessage(parsing: $0) }
        #expect(!tcp.header.isTruncated && tcp.answers.count == 40)
        // A client announcing less than 512 still gets 512 (RFC 6891 §6.2.5).
        let (small, _) = try reply(try query("web.lab.vnetd.internal", .a, edns: EDNS(udpPayloadSize: 100)), zone: big)
        #expect(!small.header.isTruncated && small.answers.count == 1)
    }

    @Test func malformedQueryWithAHeaderGetsFORMERRAndGarbageNothing() throws {
        var bytes = try query("web.lab.vnetd.internal", .a)
        bytes.removeLast(3)
        let formerr = try reply(bytes).message
        #expect(formerr.responseCode == .formatError && formerr.header.id == 0x1234 && formerr.questions.isEmpty)
        #expect(respond([0x12, 0x34, 0x01]) == .drop)
        #expect(respond([]) == .drop)
        // A response (QR set) is never answered.
        var response = try query("web.lab.vnetd.internal", .a)
        response[2] |= 0x80
        #expect(respond(response) == .drop)
        // Two questions, or none: FORMERR; an opcode other than QUERY: NOTIMP.
        var two = DNSMessage()
        two.questions = [DNSQuestion(name: domain, type: .a), DNSQuestion(name: domain, type: .aaaa)]
        #expect(try reply(two.serialized()).message.responseCode == .formatError)
        #expect(try reply(DNSMessage().serialized()).message.responseCode == .formatError)
        var update = try query("web.lab.vnetd.internal", .a)
        update[2] |= 5 << 3
        #expect(try reply(update).message.responseCode == .notImplemented)
    }

    @Test func zoneTransfersAreRefused() throws {
        #expect(try reply(try query("lab.vnetd.internal", .axfr)).message.responseCode == .refused)
    }

    @Test func namesThatAreNotValidUnderTheDomainAreSkipped() {
        let zone = Zone(domain: domain, records: ["ok": [.ipv4(web4)], "bad..name": [.ipv4(web4)],
                                                  String(repeating: "x", count: 64): [.ipv4(web4)]])
        #expect(zone.skippedNames.sorted() == ["bad..name", String(repeating: "x", count: 64)])
    }
}
