import FuzzDriver
import DHCP
import Packets

/// Arbitrary bytes as a DHCP message from a client: parsed (RFC 2131 fixed part, options with
/// RFC 3396 long options and overloaded fields), answered by a fresh server at a fixed time (so a
/// saved crash input is a complete reproducer, as DHCPTests/FuzzRegressionTests replays it), and
/// any reply it makes must serialize and parse back to the same message.
let configuration = DHCPConfiguration(
    network: IPv4Address(192, 168, 77, 0), mask: IPv4Address(255, 255, 255, 0),
    rangeStart: IPv4Address(192, 168, 77, 10), rangeEnd: IPv4Address(192, 168, 77, 40),
    server: IPv4Address(192, 168, 77, 1), gateway: IPv4Address(192, 168, 77, 1),
    dnsServers: [IPv4Address(192, 168, 77, 1)], winsServers: [],
    leaseTime: 3600, renewalTime: 1800, rebindingTime: 3150, reservations: [:])

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    guard let message = try? DHCPMessage(parsing: bytes) else { return 0 }
    let again = message.serialized(maximumSize: 65_000)
    let reparsed = again.withUnsafeBytes { try? DHCPMessage(parsing: $0) }
    precondition(reparsed != nil, "what we serialize, we parse")
    let server = RFC2131Server(configuration: configuration)
    let outcome = server.handle(message, arrivedAsBroadcast: size % 2 == 0, now: 1_800_000_000)
    if let reply = outcome.reply {
        // Options that do not fit 576 bytes may be left out; what a client needs must arrive.
        let wire = reply.message.serialized()
        precondition(wire.count <= 576 - 28, "a reply fits the size every client accepts")
        guard let parsed = wire.withUnsafeBytes({ try? DHCPMessage(parsing: $0) }) else { preconditionFailure("a reply parses") }
        for code in [DHCPOptionCode.messageType, .serverIdentifier, .leaseTime, .subnetMask] {
            precondition(parsed.option(code) == reply.message.option(code), "option \(code.rawValue) survives the wire")
        }
        precondition(parsed.transactionID == reply.message.transactionID && parsed.yourAddress == reply.message.yourAddress)
    }
    return 0
}

@_cdecl("FuzzDHCP_main")
public func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    vnetd_run_fuzzer(argc, argv) { data, size in
        guard let data else { return 0 }
        return fuzz(data, size)
    }
}
