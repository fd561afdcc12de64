import DHCP
import Foundation
import Packets
import Testing
import TestSupport

/// DHCP messages the fuzzer once crashed on (fuzz/regressions/FuzzDHCP), with the fuzz target's checks.
@Suite("DHCP inputs found by fuzzing")
struct DHCPFuzzRegressionTests {
    /// Every file of fuzz/regressions/FuzzDHCP, and whether it is a DHCP message the parser accepts.
    static let expected: [String: Bool] = [
        "crash-b406938b5ae596376aa94910586928be6b5e3e1a": true,
    ]

    @Test func everySavedInputIsKnownAndReplayed() {
        let names = fuzzRegressionInputs("FuzzDHCP").map { URL(fileURLWithPath: $0).lastPathComponent }
        #expect(names.count == 1)
        #expect(names == Self.expected.keys.sorted())
    }

    @Test(arguments: fuzzRegressionInputs("FuzzDHCP"))
    func messageIsParsedAnsweredAndRoundTrips(file: String) throws {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
        let parses = try #require(Self.expected[URL(fileURLWithPath: file).lastPathComponent], "listed in `expected`")
        let parsed = bytes.withUnsafeBytes { try? DHCPMessage(parsing: $0) }
        #expect((parsed != nil) == parses, "expected to \(parses ? "" : "not ")parse")
        guard let message = parsed else { return }
        let again = message.serialized(maximumSize: 65_000)
        #expect(again.withUnsafeBytes { try? DHCPMessage(parsing: $0) } != nil)
        for broadcast in [true, false] {
            // A fresh server at a fixed time for each, as fuzz/Sources/FuzzDHCP runs every input.
            let server = RFC2131Server(configuration: DHCPConfiguration(
                network: IPv4Address(192, 168, 77, 0), mask: IPv4Address(255, 255, 255, 0),
                rangeStart: IPv4Address(192, 168, 77, 10), rangeEnd: IPv4Address(192, 168, 77, 40),
                server: IPv4Address(192, 168, 77, 1), gateway: IPv4Address(192, 168, 77, 1),
                dnsServers: [IPv4Address(192, 168, 77, 1)], winsServers: [],
                leaseTime: 3600, renewalTime: 1800, rebindingTime: 3150, reservations: [:]))
            if let reply = server.handle(message, arrivedAsBroadcast: broadcast, now: 1_800_000_000).reply {
                // What does not fit 576 bytes may be left out (a 255-byte client id echo, here);
                // what a client needs to use the reply must arrive.
                let wire = reply.message.serialized()
                let parsed = try #require(wire.withUnsafeBytes { try? DHCPMessage(parsing: $0) })
                for code in [DHCPOptionCode.messageType, .serverIdentifier, .leaseTime, .subnetMask] {
                    #expect(parsed.option(code) == reply.message.option(code), "option \(code.rawValue)")
                }
                #expect(parsed.transactionID == reply.message.transactionID && parsed.yourAddress == reply.message.yourAddress)
                #expect(wire.count <= 576 - 28)
            }
        }
    }
}
