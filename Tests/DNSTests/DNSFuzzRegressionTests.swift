import DNS
import Foundation
import Packets
import Testing
import TestSupport

/// The fuzz target's checks (fuzz/Sources/FuzzDNS) over its seeds and over every input it once
/// crashed on (fuzz/regressions/FuzzDNS, none yet), so a saved crash stays fixed in `swift test`.
@Suite("DNS inputs from the fuzz target")
struct DNSFuzzRegressionTests {
    static let zone = Zone(
        domain: try! DNSName("lab.vnetd.internal"),
        records: [
            "web": [.ipv4(IPv4Address(192, 168, 77, 10)), .ipv6(IPv6AddressBytes(parsing: "fd00:77::10")!)],
            "db": [.ipv4(IPv4Address(192, 168, 77, 11))],
            "many": (1...60).map { .ipv4(IPv4Address(192, 168, 78, UInt8($0))) },
            "a.deep": [.ipv4(IPv4Address(192, 168, 77, 12))],
        ],
        ttl: 60)
    static let forwarding = Zone(domain: zone.domain, records: ["web": [.ipv4(IPv4Address(192, 168, 77, 10))]], ttl: 60, forwardsOutside: true)

    static var inputs: [String] {
        let seeds = repositoryRoot + "/fuzz/seeds/FuzzDNS"
        let seedFiles = ((try? FileManager.default.contentsOfDirectory(atPath: seeds)) ?? []).sorted().map { seeds + "/" + $0 }
        return seedFiles + fuzzRegressionInputs("FuzzDNS")
    }

    @Test func seedsArePresent() {
        #expect(Self.inputs.count >= 4)
    }

    @Test(arguments: inputs)
    func inputKeepsTheFuzzTargetsPromises(file: String) throws {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
        let parsed = bytes.withUnsafeBytes { try? DNSMessage(parsing: $0) }
        if let parsed {
            for compressing in [true, false] {
                #expect(parsed.serialized(compressing: compressing).withUnsafeBytes { try? DNSMessage(parsing: $0) } == parsed)
            }
        }
        let responder = DNSResponder(zone: bytes.count % 4 == 3 ? Self.forwarding : Self.zone)
        switch bytes.withUnsafeBytes({ responder.respond(to: $0) }) {
        case .drop:
            #expect(parsed == nil || parsed?.header.isResponse == true)
        case .forward(let query):
            #expect(query == parsed)
        case .answer(let wire):
            let answer = try #require(wire.withUnsafeBytes { try? DNSMessage(parsing: $0) })
            #expect(answer.header.isResponse && answer.header.id == UInt16(bytes[0]) << 8 | UInt16(bytes[1]))
            let limit = parsed?.edns.map { max(512, min(Int($0.udpPayloadSize), responder.maximumUDPSize)) } ?? 512
            #expect(wire.count <= limit)
        }
    }

    /// The fuzz target's second check: the same bytes as an upstream's answer to a query in
    /// flight, once as they are and once with the query's id; every relayed answer parses, is a
    /// response with the client's id and fits 512 bytes.
    @Test(arguments: inputs)
    func inputAsAnUpstreamAnswerKeepsTheForwardersPromises(file: String) throws {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
        let upstream = UpstreamServer(address: .ipv4(IPv4Address(10, 0, 0, 1)))
        var random = SplitMix(state: 0x14)
        var forwarder = DNSForwarder<Int>(configuration: .init(upstreams: [upstream]))
        var query = DNSMessage()
        query.header.id = 0x4242
        let name = (bytes.count > 12 ? bytes.withUnsafeBytes { try? DNSMessage(parsing: $0) }?.questions.first?.name : nil) ?? dnsName("www.example.org")
        query.questions = [DNSQuestion(name: name, type: .a)]
        guard case .send(_, _, let socket, _)? = forwarder.query(query, from: 1, overTCP: false, now: 0, using: &random).first else {
            Issue.record("a first query goes upstream")
            return
        }
        var relayed: [[UInt8]] = []
        func collect(_ actions: [DNSForwarder<Int>.Action]) {
            for case .answer(let wire, _) in actions { relayed.append(wire) }
        }
        collect(bytes.withUnsafeBytes { forwarder.answer($0, from: upstream, socket: socket, transport: .udp, now: 1, using: &random) })
        if bytes.count >= 2, let id = forwarder.pendingIDs.first {
            var patched = bytes
            patched[0] = UInt8(id >> 8)
            patched[1] = UInt8(truncatingIfNeeded: id)
            collect(patched.withUnsafeBytes { forwarder.answer($0, from: upstream, socket: socket, transport: .udp, now: 2, using: &random) })
        }
        collect(forwarder.query(query, from: 1, overTCP: false, now: 3, using: &random))
        collect(forwarder.expire(now: 100_000, using: &random))
        for wire in relayed {
            let answer = try #require(wire.withUnsafeBytes { try? DNSMessage(parsing: $0) })
            #expect(answer.header.isResponse && answer.header.id == 0x4242 && wire.count <= 512)
        }
    }
}
