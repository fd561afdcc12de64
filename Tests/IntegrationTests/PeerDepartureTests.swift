import Foundation
import Packets
import Switching
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A VM that powers off, crashes or is killed while frames are queued for it must never take
/// vnetd down. Against the real binary: the test process's own signal dispositions would hide a
/// SIGPIPE in an in-process vnetd.
@Suite("VMs going away never take vnetd down", .serialized)
struct PeerDepartureTests {
    static let rounds = 50

    @Test func qemuVMsThatExitWithFramesQueuedLeaveVnetdRunningAndTheOthersForwarding() throws {
        let vnetd = try #require(vnetdExecutable, "the vnetd executable is built by `swift build`")
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let data = folder.path + "/data"
        try run([vnetd, "populate", "--data-dir", data, "--networks", "1", "--vms", "3", "--allow-mac-spoofing"])
        let process = try VnetdProcess(data: data, logFile: folder.path + "/vnetd.log")
        let sockets = try FileManager.default.contentsOfDirectory(atPath: data + "/run").filter { $0.hasSuffix(".sock") }.sorted().map { data + "/run/" + $0 }
        try #require(sockets.count == 3)
        let flooder = try StreamPeer(path: sockets[0])
        let bystander = try StreamPeer(path: sockets[1])
        // More than the leaving VM's socket buffer and vnetd's output buffer for it hold.
        let broadcast = EthernetBuilder.header(destination: .broadcast, source: MACAddress(value: 0x0200_0000_F100), type: EtherType(rawValue: 0x88B5))
            + [UInt8](repeating: 0x5A, count: 200)
        var survived = 0
        for round in 0..<Self.rounds {
            do {
                let leaving = try StreamPeer(path: sockets[2])
                try flooder.send(repeatElement(broadcast, count: 8_000))
                // The VM stops: it never read what was queued for it.
                leaving.close()
                try flooder.send(repeatElement(broadcast, count: 2_000))
            } catch {
                // The flooder's own connection broke: see how vnetd ended.
                _ = process.waitForExit(seconds: 2)
            }
            guard eventually(0.3, { !process.isRunning }) == false else {
                Issue.record("round \(round): vnetd ended (\(process.exitDescription ?? "?")) when a VM left with frames queued")
                break
            }
            survived += 1
        }
        #expect(survived == Self.rounds)
        try #require(process.isRunning)

        // The other VMs still forward, both ways.
        let marker = EthernetBuilder.header(destination: .broadcast, source: MACAddress(value: 0x0200_0000_B0B0), type: EtherType(rawValue: 0x88B5))
            + Array("still forwarding".utf8) + [UInt8](repeating: 0, count: 30)
        #expect(try bystander.send(marker, reaching: flooder), "a frame from one remaining VM reaches the other")

        // A clean stop afterwards: exit 0, the stop recorded, the sockets removed.
        #expect(process.stop(signal: SIGTERM) == "exit 0")
        #expect(try process.storedEventKinds().first == "server.stopped")
        #expect(sockets.allSatisfy { !FileManager.default.fileExists(atPath: $0) })
        #expect(process.errorLines().isEmpty, "\(process.errorLines())")
    }
}
