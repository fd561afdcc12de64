import CTestNet
import Foundation
import Testing
import TestSupport
import VhostUser

#if canImport(Glibc)
import Glibc
#endif

/// vnetd as its own process, its vhost-user ports driven by the test front end (it plays QEMU):
/// a guest whose rings are hostile is cut off and counted; vnetd and the other guests carry on,
/// and the same socket takes the VM back. No privileges needed (unix sockets and memfds).
@Suite("vhost-user faults against the vnetd process", .serialized)
struct VhostUserFaultTests {
    static func frame(from source: UInt8, to destination: UInt8, length: Int = 100) -> [UInt8] {
        [0x02, 0, 0, 0, 0, destination, 0x02, 0, 0, 0, 0, source, 0x88, 0xB5] + [UInt8](repeating: 0x5A, count: length - 14)
    }

    @Test(arguments: ["loop", "outside", "jump"])
    func aHostileGuestIsCutOffAndTheOthersCarryOn(_ fault: String) throws {
        let vnetd = try #require(vnetdExecutable, "the vnetd executable is built by `swift build`")
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let data = folder.path + "/data"
        try run([vnetd, "populate", "--data-dir", data, "--networks", "1", "--vms", "3", "--backend", "vhost-user", "--allow-mac-spoofing"])
        let process = try VnetdProcess(data: data, logFile: folder.path + "/vnetd.log")
        defer { _ = process.stop(signal: SIGTERM) }
        #expect(eventually(10) { ((try? FileManager.default.contentsOfDirectory(atPath: data + "/run")) ?? []).filter { $0.hasSuffix(".vhost") }.count == 3 })
        let sockets = try FileManager.default.contentsOfDirectory(atPath: data + "/run").filter { $0.hasSuffix(".vhost") }.sorted().map { data + "/run/" + $0 }
        let bad = try VhostUserFrontEnd(path: sockets[0])
        let b = try VhostUserFrontEnd(path: sockets[1]), c = try VhostUserFrontEnd(path: sockets[2])
        for end in [bad, b, c] {
            try end.start()
            end.postReceiveBuffers()
        }
        // Traffic flows before the fault (the switch learns everyone).
        b.transmit(Self.frame(from: 2, to: 3))
        #expect(c.receive().first?.frame == Self.frame(from: 2, to: 3))
        switch fault {
        case "loop":
            bad.descriptor(queue: 1, 40, address: 0x200000, length: 64, flags: 1, next: 41)
            bad.descriptor(queue: 1, 41, address: 0x200000, length: 64, flags: 1, next: 40)
            bad.transmitChain(head: 40)
        case "outside":
            bad.descriptor(queue: 1, 40, address: 1 << 40, length: 1500, flags: 0)
            bad.transmitChain(head: 40)
        default:
            // The available index leaps past everything the ring holds.
            bad.store16(9000, bad.ringOffset(1) + 0x2000 + 2)
            _ = testnet_eventfd_kick(bad.kicks[1])
        }
        #expect(bad.wasDisconnected(), "the hostile guest is disconnected")
        #expect(process.isRunning, "vnetd carries on")
        c.transmit(Self.frame(from: 3, to: 2, length: 200))
        #expect(b.receive().first?.frame == Self.frame(from: 3, to: 2, length: 200), "the other guests still forward")
        #expect(process.log.contains("vhost-user front end disconnected"), "and the log says why: \(process.log.suffix(400))")
        // The VM connects again on the same socket and is back.
        let again = try VhostUserFrontEnd(path: sockets[0])
        try again.start()
        again.postReceiveBuffers()
        b.transmit(Self.frame(from: 2, to: 1, length: 90))
        #expect(again.receive().first?.frame == Self.frame(from: 2, to: 1, length: 90))
        #expect(process.errorLines().isEmpty, "no errors: \(process.errorLines())")
    }
}
