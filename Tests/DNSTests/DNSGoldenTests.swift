import Packets
import Testing
@testable import DNS

/// Bytes as written as hex by the capture (two digits a byte), turned back into bytes.
func hex(_ text: String) -> [UInt8] {
    let digits = Array(text.utf8)
    return stride(from: 0, to: digits.count - 1, by: 2).map { UInt8(String(decoding: digits[$0...$0 + 1], as: UTF8.self), radix: 16) ?? 0 }
}

/// DNS bytes from outside the code under test, so the parser and responder cannot grade themselves.
///
/// How they were made (2026-12-01): in a network namespace of its own (`ip netns add`, lo up),
/// dnsmasq 2.90 ran as `dnsmasq --no-daemon --port=5353 --listen-address=127.0.0.1 --bind-interfaces
/// --no-resolv --no-hosts --addn-hosts=hosts --domain=lab.vnetd.internal --local=/lab.vnetd.internal/
/// --local-ttl=60` with the hosts file `192.168.77.10 web.lab.vnetd.internal`, `fd00:77::10
/// web.lab.vnetd.internal`, `192.168.77.11 db.lab.vnetd.internal` and 40 addresses 192.168.78.1-40 for
/// `many.lab.vnetd.internal`. Queries marked "busybox" came from BusyBox 1.35.0 `nslookup -type=T NAME
/// 127.0.0.1` through a python3 UDP relay on 127.0.0.1:53 that logged each query and dnsmasq's answer
/// as hex; queries marked "python" were written by hand (to add an OPT record, or to be broken) and
/// sent to dnsmasq by a python3 socket, which logged its answer.
@Suite("DNS goldens from busybox nslookup and dnsmasq")
struct DNSGoldenTests {
    static let webName = "03776562036c616205766e65746408696e7465726e616c00"  // web.lab.vnetd.internal

    /// busybox: `nslookup -type=a web.lab.vnetd.internal`.
    static let busyboxQueryA = hex("3a7401000001000000000000" + webName + "00010001")
    /// dnsmasq's answer: QR AA RD RA, one A 192.168.77.10, TTL 60, owner a pointer to the question (c00c).
    static let dnsmasqAnswerA = hex("3a7485800001000100000000" + webName + "00010001" + "c00c000100010000003c0004c0a84d0a")
    /// busybox: `nslookup -type=aaaa WEB.Lab.vnetd.internal` (mixed case).
    static let busyboxQueryAAAA = hex("02e40100000100000000000003574542034c616205766e65746408696e7465726e616c00001c0001")
    static let dnsmasqAnswerAAAA = hex("02e48580000100010000000003574542034c616205766e65746408696e7465726e616c00001c0001"
        + "c00c001c00010000003c0010fd000077000000000000000000000010")
    /// busybox: `nslookup -type=ptr 10.77.168.192.in-addr.arpa`.
    static let busyboxQueryPTR = hex("5ce301000001000000000000023130023737033136380331393207696e2d61646472046172706100000c0001")
    /// dnsmasq writes the PTR target in full (nothing earlier in the message shares a suffix with it).
    static let dnsmasqAnswerPTR = hex("5ce385800001000100000000023130023737033136380331393207696e2d61646472046172706100000c0001"
        + "c00c000c00010000003c0018" + webName)
    /// busybox: `nslookup -type=a nothere.lab.vnetd.internal`; dnsmasq (not authoritative here):
    /// NXDOMAIN, RD RA, no SOA.
    static let busyboxQueryNXDOMAIN = hex("8cf501000001000000000000076e6f7468657265036c616205766e65746408696e7465726e616c0000010001")
    static let dnsmasqAnswerNXDOMAIN = hex("8cf581830001000000000000076e6f7468657265036c616205766e65746408696e7465726e616c0000010001")
    /// python: the A query for web with an OPT record (payload 1024, version 0, no flags).
    static let pythonQueryEDNS = hex("4a4b01000001000000000001" + webName + "00010001" + "0000290400000000000000")
    /// dnsmasq's answer echoes OPT with its own payload size, 1232 (04d0).
    static let dnsmasqAnswerEDNS = hex("4a4b85800001000100000001" + webName + "00010001"
        + "c00c000100010000003c0004c0a84d0a" + "00002904d0000000000000")
    /// busybox: `nslookup -type=a many.lab.vnetd.internal` with no EDNS: dnsmasq keeps the 29 answers
    /// that fit 512 bytes and sets TC (flags 8780). Only the header and question are kept here.
    static let dnsmasqTruncatedHead = hex("e11687800001001d00000000046d616e79036c616205766e65746408696e7465726e616c0000010001")

    static let zone = Zone(
        domain: try! DNSName("lab.vnetd.internal"),
        records: [
            "web": [.ipv4(IPv4Address(192, 168, 77, 10)), .ipv6(IPv6AddressBytes(parsing: "fd00:77::10")!)],
            "db": [.ipv4(IPv4Address(192, 168, 77, 11))],
        ],
        ttl: 60, forwardsOutside: true)

    func answer(_ query: [UInt8]) -> [UInt8]? {
        guard case .answer(let bytes) = query.withUnsafeBytes({ DNSResponder(zone: Self.zone).respond(to: $0) }) else { return nil }
        return bytes
    }

    @Test func busyboxQueryParsesToOneQuestion() throws {
        let query = try Self.busyboxQueryA.withUnsafeBytes { try DNSMessage(parsing: $0) }
        #expect(query.header.id == 0x3a74 && !query.header.isResponse && query.header.recursionDesired)
        #expect(query.questions == [DNSQuestion(name: try DNSName("web.lab.vnetd.internal"), type: .a)])
        #expect(query.answers.isEmpty && query.edns == nil)
        #expect(query.serialized() == Self.busyboxQueryA)
    }

    @Test func dnsmasqAnswersParseAndSerializeToTheSameBytes() throws {
        for bytes in [Self.dnsmasqAnswerA, Self.dnsmasqAnswerAAAA, Self.dnsmasqAnswerPTR, Self.dnsmasqAnswerNXDOMAIN, Self.dnsmasqAnswerEDNS] {
            let message = try bytes.withUnsafeBytes { try DNSMessage(parsing: $0) }
            #expect(message.serialized() == bytes)
        }
        let a = try Self.dnsmasqAnswerA.withUnsafeBytes { try DNSMessage(parsing: $0) }
        #expect(a.header.isResponse && a.header.isAuthoritative && a.header.recursionAvailable && a.responseCode == .noError)
        #expect(a.answers == [DNSRecord(name: try DNSName("web.lab.vnetd.internal"), type: .a, ttl: 60, data: .a(IPv4Address(192, 168, 77, 10)))])
        let edns = try Self.dnsmasqAnswerEDNS.withUnsafeBytes { try DNSMessage(parsing: $0) }
        #expect(edns.edns == EDNS(udpPayloadSize: 1232) && edns.additional.isEmpty)
        let nx = try Self.dnsmasqAnswerNXDOMAIN.withUnsafeBytes { try DNSMessage(parsing: $0) }
        #expect(nx.responseCode == .nameError)
    }

    /// Where dnsmasq and vnetd agree on policy (a known name, with or without EDNS), the bytes are equal.
    @Test func responderAnswersAsDnsmasqDidByteForByte() {
        #expect(answer(Self.busyboxQueryA) == Self.dnsmasqAnswerA)
        #expect(answer(Self.busyboxQueryAAAA) == Self.dnsmasqAnswerAAAA)
        #expect(answer(Self.busyboxQueryPTR) == Self.dnsmasqAnswerPTR)
        #expect(answer(Self.pythonQueryEDNS) == Self.dnsmasqAnswerEDNS)
    }

    /// dnsmasq here is not the zone's authority; vnetd is, so it adds AA and the SOA (RFC 2308).
    @Test func responderNXDOMAINIsDnsmasqsPlusAuthority() throws {
        let bytes = try #require(answer(Self.busyboxQueryNXDOMAIN))
        let ours = try bytes.withUnsafeBytes { try DNSMessage(parsing: $0) }
        let theirs = try Self.dnsmasqAnswerNXDOMAIN.withUnsafeBytes { try DNSMessage(parsing: $0) }
        #expect(ours.responseCode == theirs.responseCode && ours.questions == theirs.questions && ours.header.id == theirs.header.id)
        #expect(ours.header.isAuthoritative && ours.answers.isEmpty)
        let domain = try DNSName("lab.vnetd.internal")
        #expect(ours.authority.map(\.type) == [.soa] && ours.authority.first?.name == domain)
    }

    @Test func dnsmasqTruncatedAnswerHeadReadsTC() throws {
        let header = try Self.dnsmasqTruncatedHead.withUnsafeBytes { try DNSHeader(parsing: $0) }
        #expect(header.isTruncated && header.isResponse && header.isAuthoritative && header.recursionAvailable)
    }

    /// RFC 1035 §4.1.4: F.ISI.ARPA at offset 20, FOO.F.ISI.ARPA at 40 (FOO, then a pointer to 20),
    /// ARPA at 64 (a pointer to 26, inside the first name), the root at 92.
    @Test func rfc1035CompressionExample() throws {
        var bytes = [UInt8](repeating: 0xFF, count: 93)
        bytes.replaceSubrange(20..<32, with: [1, 0x46, 3, 0x49, 0x53, 0x49, 4, 0x41, 0x52, 0x50, 0x41, 0])
        bytes.replaceSubrange(40..<46, with: [3, 0x46, 0x4F, 0x4F, 0xC0, 20])
        bytes.replaceSubrange(64..<66, with: [0xC0, 26])
        bytes[92] = 0
        try bytes.withUnsafeBytes { buffer in
            for (offset, text, end) in [(20, "F.ISI.ARPA.", 32), (40, "FOO.F.ISI.ARPA.", 46), (64, "ARPA.", 66), (92, ".", 93)] {
                var reader = DNSReader(buffer)
                reader.offset = offset
                let name = try reader.readName()
                #expect(name.description == text)
                #expect(reader.offset == end, "reading continues after the pointer, not after its target")
            }
        }
        // Writing the same names in order compresses them the way the RFC draws it.
        var writer = DNSWriter(compresses: true)
        for text in ["F.ISI.ARPA", "FOO.F.ISI.ARPA", "ARPA", ""] { writer.write(try DNSName(text)) }
        #expect(writer.bytes == [1, 0x46, 3, 0x49, 0x53, 0x49, 4, 0x41, 0x52, 0x50, 0x41, 0, 3, 0x46, 0x4F, 0x4F, 0xC0, 0, 0xC0, 6, 0])
    }
}
