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
    return 0
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
    _ = (zone.domain, forwarding.domain)
    return vnetd_run_fuzzer(argc, argv) { data, size in
        guard let data else { return 0 }
        return fuzz(data, size)
    }
}
