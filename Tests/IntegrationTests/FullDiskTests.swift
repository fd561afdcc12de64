import Domain
import Foundation
import Packets
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The data folder on a small file system of its own (tmpfs) that the test fills: what a full
/// disk does to the site, DHCP and the store, and that everything resumes once space is back.
@Suite("A full disk under the data folder", .serialized, .enabled(if: rootTestsRun, Comment(rawValue: needsRoot)))
struct FullDiskTests {
    static let fullMessage = "Not saved: the disk that holds vnetd&#39;s data folder is full."

    @Test func savesAndLeasesAreRefusedClearlyWhileFullAndResumeByThemselves() throws {
        try #require(isRoot, "mounting a tmpfs needs root")
        let mount = try TemporaryDirectory()
        defer { mount.remove() }
        try run(["mount", "-t", "tmpfs", "-o", "size=6m,mode=0700", "tmpfs", mount.path])
        defer { _ = try? run(["umount", mount.path], check: false) }
        try whileMounted(mount.path)
    }

    func whileMounted(_ mount: String) throws {
        // Stopped when it goes (its deinit), before the caller unmounts.
        let vnetd = try VnetdUnderTest(dataDirectory: mount + "/data")
        // Expected while full: the lease batches that could not be stored, and the pruner's pass.
        vnetd.expectedErrors = ["could not store DHCP leases"]
        let lab = try vnetd.services.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        var draft = DHCPDraft(try vnetd.services.dhcp.settings(of: lab.id))
        draft.isEnabled = true
        _ = try vnetd.services.dhcp.update(lab.id, version: 0, draft)
        let nics = try (1...2).map { try vnetd.nic(of: try vnetd.services.vms.create(name: "vm\($0)", notes: "", connectingTo: lab.id)) }
        vnetd.settle()
        let peers = try nics.map { try StreamPeer(path: try #require(vnetd.services.status.status(of: $0.id).endpoint)) }
        let browser = try SignedInClient(port: vnetd.application.port, initialPasswordFile: try #require(vnetd.application.initialPasswordFile))
        #expect(try CrashTests.takeLease(through: peers[0], as: nics[0].mac) != nil, "control: with room, a VM gets a lease")
        func integrity() throws -> [String] { try vnetd.application.database.integrityCheck() }
        func networkNames() throws -> [String] { try vnetd.services.store.read { try $0.allNetworks() }.map(\.name) }

        // Fill it. dd stops at "No space left on device".
        _ = try run(["dd", "if=/dev/zero", "of=\(mount)/filler", "bs=64k"], check: false)
        // SQLite reuses room its write-ahead log already holds, so a few saves may still fit:
        // save until one is refused (a bounded number of tries).
        var refused: (name: String, reply: HTTPTestClient.Reply)?
        for attempt in 0..<200 where refused == nil {
            let name = "Full-\(attempt)"
            let reply = try browser.post("/networks", [("name", name), ("notes", String(repeating: "n", count: 2000))])
            if reply.status != 303 { refused = (name, reply) }
        }
        let (name, reply) = try #require(refused, "a save is refused once the disk is full")
        #expect(reply.status == 422, "the form comes back, not an error page: \(reply.status)")
        #expect(reply.text.contains(Self.fullMessage), "it says why: \(reply.text.prefix(400))")
        #expect(reply.text.contains("value=\"\(name)\""), "with what was typed")
        #expect(try !networkNames().contains(name), "nothing of it was stored")
        #expect(try integrity() == ["ok"])

        #expect(try CrashTests.takeLease(through: peers[1], as: nics[1].mac) == nil, "no ACK for a lease that cannot be stored")
        #expect(try vnetd.services.store.read { try $0.leases(of: nics[1].mac) }.isEmpty)
        let during = try browser.get("/events").text
        #expect(during.components(separatedBy: "is full: nothing can be saved").count == 2, "the Event Viewer says so once")
        let counts = during.firstMatch(of: /so far (\d+) changes? refused, (\d+) DHCP leases? not granted/)
        #expect(counts.map { Int($0.output.1)! >= 1 && Int($0.output.2)! >= 1 } == true, "with what it refused: \(counts.map { String($0.output.0) } ?? "no counts")")
        #expect(try browser.get("/events").text.components(separatedBy: "is full: nothing can be saved").count == 2, "still once")
        #expect(try integrity() == ["ok"])

        // Space comes back: no restart, no action; the next save and the next lease work.
        try FileManager.default.removeItem(atPath: mount + "/filler")
        #expect(try browser.post("/networks", [("name", "After"), ("notes", "")]).status == 303, "saving resumes by itself")
        #expect(try CrashTests.takeLease(through: peers[1], as: nics[1].mac) != nil, "and leasing")
        #expect(try !vnetd.services.store.read { try $0.leases(of: nics[1].mac) }.isEmpty)
        let after = try browser.get("/events").text
        #expect(!after.contains("is full: nothing can be saved"))
        #expect(after.components(separatedBy: "was full until").count == 2, "one event in the log for the whole time")
        #expect(try networkNames().contains("After") && !networkNames().contains(name))
        #expect(try integrity() == ["ok"])
        _ = try browser.post("/networks", [("name", "Later"), ("notes", "")])
        #expect(try browser.get("/events").text.components(separatedBy: "was full until").count == 2, "recorded once, not again with later saves")
    }
}
