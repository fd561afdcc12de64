import DNS
import FuzzDriver
import Packets

/// Arbitrary bytes as a DNS query to a network's responder: whatever it parses must serialize and
/// parse back to the same message, and any answer it sends must parse, carry the query's id, fit
/// the client's UDP size, and be a response. A fixed zone (so a saved crash input is a complete
/// reproducer, as DNSTests/DNSFuzzRegressionTests replays it); every fourth input is answered by a
/// zone that forwards outside names, to reach that branch too.
let zone = Zone(
    domain: (try? DNSName("lab.vnetd.internal")) ?? .root,
    records: [
        "web": [.ipv4(IPv4Address(192, 168, 77, 10))] + (IPv6AddressBytes(parsing: "fd00:77::10").map { [.ipv6($0)] } ?? []),
        "db": [.ipv4(IPv4Address(192, 168, 77, 11))],
        "many": (1...60).map { .ipv4(IPv4Address(192, 168, 78, UInt8($0))) },
        "a.deep": [.ipv4(IPv4Address(192, 168, 77, 12))],
    ],
    ttl: 60)
let forwarding = Zone(domain: zone.domain, records: ["web": [.ipv4(IPv4Address(192, 168, 77, 10))]], ttl: 60, forwardsOutside: true)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    checkFuzzedQuery(bytes)
    checkFuzzedUpstreamAnswer(bytes)
    return 0
}

/// A generator with a fixed seed: the forwarder's upstream id is the same for every input, so a
/// saved input is a complete reproducer.
struct FixedRandom: RandomNumberGenerator {
    var state: UInt64 = 0x14
    mutating func next() -> UInt64 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return state
    }
}

let upstream = UpstreamServer(address: .ipv4(IPv4Address(10, 0, 0, 1)))

/// The same bytes as an upstream's answer to a query in flight (its first two bytes replaced by
/// the query's id, so matching is reached; the bytes as they are also go in, unmatched): nothing
/// traps, every answer a client gets parses, is a response with the client's id and fits 512
/// bytes (the client sent no EDNS), and a question answered is no longer in flight; then the same
/// question again (the cache's path) keeps the same promises.
func checkFuzzedUpstreamAnswer(_ bytes: UnsafeRawBufferPointer) {
    var random = FixedRandom()
    var forwarder = DNSForwarder<Int>(configuration: .init(upstreams: [upstream]))
    var query = DNSMessage()
    query.header.id = 0x4242
    query.header.recursionDesired = true
    let name = (bytes.count > 12 ? (try? DNSMessage(parsing: bytes))?.questions.first?.name : nil) ?? ((try? DNSName("www.example.org")) ?? .root)
    query.questions = [DNSQuestion(name: name, type: .a)]
    guard case .send(_, _, let socket, _)? = forwarder.query(query, from: 1, overTCP: false, now: 0, using: &random).first else {
        preconditionFailure("a first query goes upstream")
    }
    func checkAnswers(_ actions: [DNSForwarder<Int>.Action]) {
        for case .answer(let wire, let client) in actions {
            guard let answer = wire.withUnsafeBytes({ try? DNSMessage(parsing: $0) }) else { preconditionFailure("a relayed answer parses") }
            precondition(client == 1 && answer.header.isResponse && answer.header.id == 0x4242, "the client's id, as a response")
            precondition(wire.count <= 512, "within a client's 512 bytes")
        }
    }
    checkAnswers(forwarder.answer(bytes, from: upstream, socket: socket, transport: .udp, now: 1, using: &random))
    guard bytes.count >= 2, let id = forwarder.pendingIDs.first else { return }
    var patched = Array(bytes)
    patched[0] = UInt8(id >> 8)
    patched[1] = UInt8(truncatingIfNeeded: id)
    checkAnswers(patched.withUnsafeBytes { forwarder.answer($0, from: upstream, socket: socket, transport: .udp, now: 2, using: &random) })
    checkAnswers(forwarder.query(query, from: 1, overTCP: false, now: 3, using: &random))
    checkAnswers(forwarder.expire(now: 100_000, using: &random))
}

func checkFuzzedQuery(_ bytes: UnsafeRawBufferPointer) {
    let parsed = try? DNSMessage(parsing: bytes)
    if let parsed {
        for compressing in [true, false] {
            let again = parsed.serialized(compressing: compressing)
            let reparsed = again.withUnsafeBytes { try? DNSMessage(parsing: $0) }
            precondition(reparsed == parsed, "what we parse, we serialize and parse back the same")
        }
    }
    let responder = DNSResponder(zone: bytes.count % 4 == 3 ? forwarding : zone)
    switch responder.respond(to: bytes) {
    case .drop:
        precondition(parsed == nil || parsed?.header.isResponse == true, "a parsed query is answered or forwarded")
    case .forward(let query):
        precondition(parsed != nil && query == parsed, "only a parsed query is forwarded")
    case .answer(let wire):
        guard let answer = wire.withUnsafeBytes({ try? DNSMessage(parsing: $0) }) else { preconditionFailure("an answer parses") }
        precondition(answer.header.isResponse, "an answer is a response")
        precondition(bytes.count >= 2 && answer.header.id == UInt16(bytes[0]) << 8 | UInt16(bytes[1]), "an answer carries the query's id")
        let limit = parsed?.edns.map { max(512, min(Int($0.udpPayloadSize), responder.maximumUDPSize)) } ?? 512
        precondition(wire.count <= limit, "an answer fits the client's UDP size")
    }
}

@_cdecl("FuzzDNS_main")
public func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    // The zones are built here, before the first input: libFuzzer's leak check would take a global
    // made during an input for a leak.
    _ = (zone.domain, forwarding.domain, upstream)
    return vnetd_run_fuzzer(argc, argv) { data, size in
        guard let data else { return 0 }
        return fuzz(data, size)
    }
}
