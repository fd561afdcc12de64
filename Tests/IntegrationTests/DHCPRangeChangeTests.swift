import Domain
import Foundation
import Packets
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// "Changing the range ends leases at their next renewal", with a real client: busybox udhcpc
/// keeps running in a namespace on a TAP VM and renews when told (SIGUSR1), as it would at T1.
@Suite("A DHCP range change seen by a running client", .serialized, .enabled(if: rootTestsRun, Comment(rawValue: needsRoot)))
struct DHCPRangeChangeTests {
    @Test func theNextRenewalIsRefusedAndTheClientRebindsIntoTheNewRange() throws {
        let busybox = try #require(busybox, "busybox is missing: `make test` installs it")
        let vnetd = try VnetdUnderTest()
        let lab = try vnetd.services.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        var draft = DHCPDraft(try vnetd.services.dhcp.settings(of: lab.id))
        draft.isEnabled = true
        let old = try vnetd.services.dhcp.update(lab.id, version: 0, draft)
        let (vm, tap) = try vnetd.tapVM("vm", on: lab.id)
        let mac = try vnetd.nic(of: vm).mac
        let namespace = try Namespace("rng")
        try run(["ip", "link", "set", tap, "netns", namespace.name])
        try run(["ip", "-n", namespace.name, "link", "set", tap, "up"])
        let script = try udhcpcScript(in: vnetd.folder.path)
        let events = vnetd.folder.path + "/udhcpc-\(tap).log"
        func lines() -> [String] {
            ((try? String(contentsOfFile: events, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }
        // In the foreground, so its pid is the one to signal; it keeps its lease and renews on SIGUSR1.
        let client = try spawn(["ip", "netns", "exec", namespace.name, busybox, "udhcpc", "-f", "-i", tap, "-s", script, "-t", "10", "-T", "1", "-A", "1"],
                               logFile: vnetd.folder.path + "/udhcpc.out")
        defer { kill(client, SIGTERM); waitpid(client, nil, 0) }
        #expect(eventually(15) { lines().contains { $0.hasPrefix("bound ") } }, "the client gets a lease: \(lines())")
        let first = try #require(lines().first { $0.hasPrefix("bound ") }.flatMap { IPv4Address(parsing: String($0.dropFirst(6))) })
        #expect(first >= old.rangeStart && first <= old.rangeEnd)

        // Control: a renewal before the change keeps the address.
        kill(client, SIGUSR1)
        #expect(eventually(10) { lines().contains("renew \(first)") }, "a renewal is acknowledged with the same address: \(lines())")

        // A range that leaves the client's address out.
        var moved = DHCPDraft(old)
        let start = IPv4Address(value: max(first.value, old.rangeStart.value) + 40)
        moved.rangeStart = start.description
        moved.rangeEnd = IPv4Address(value: start.value + 20).description
        let new = try vnetd.services.dhcp.update(lab.id, version: old.version, moved)
        vnetd.settle()
        try #require(!(first >= new.rangeStart && first <= new.rangeEnd))
        let before = lines().count
        kill(client, SIGUSR1)
        #expect(eventually(20) { lines().dropFirst(before).contains { $0.hasPrefix("bound ") } }, "the client binds again: \(lines())")
        let after = Array(lines().dropFirst(before))
        #expect(after.first == "nak " || after.first?.hasPrefix("nak") == true, "the renewal was refused (NAK), not acknowledged: \(after)")
        #expect(!after.contains("renew \(first)"))
        let second = try #require(after.first { $0.hasPrefix("bound ") }.flatMap { IPv4Address(parsing: String($0.dropFirst(6))) })
        #expect(second >= new.rangeStart && second <= new.rangeEnd, "its new address is in the new range: \(second)")
        let shown = try run(["ip", "-n", namespace.name, "-4", "-o", "addr", "show", "dev", tap]).output
        #expect(shown.contains("inet \(second)/") && !shown.contains("inet \(first)/"), "and configured on the VM: \(shown)")
        #expect(eventually(5) {
            let stored = (try? vnetd.services.store.read { try $0.leases(of: mac) }) ?? []
            return stored.contains { $0.address == second } && !stored.contains { $0.address == first }
        }, "the store holds the new lease and not the old one")
    }
}
