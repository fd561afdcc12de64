import Foundation
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Starting and stopping the real binary, as a user (or systemd) does.
@Suite("vnetd starts and stops as a user expects", .serialized)
struct LifecycleTests {
    /// A data folder with one network and two VMs on QEMU sockets.
    static func populated(_ folder: TemporaryDirectory) throws -> String {
        let vnetd = try #require(vnetdExecutable, "the vnetd executable is built by `swift build`")
        let data = folder.path + "/data"
        try run([vnetd, "populate", "--data-dir", data, "--networks", "1", "--vms", "2", "--allow-mac-spoofing"])
        return data
    }

    static func sockets(in data: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: data + "/run").filter { $0.hasSuffix(".sock") }.sorted().map { data + "/run/" + $0 }
    }

    @Test func aSecondVnetdOnTheSameDataFolderExitsAndTheFirstKeepsItsSockets() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let data = try Self.populated(folder)
        let first = try VnetdProcess(data: data, logFile: folder.path + "/first.log")
        let sockets = try Self.sockets(in: data)
        try #require(sockets.count == 2)

        let second = try VnetdProcess(data: data, logFile: folder.path + "/second.log", waitUntilServing: false)
        #expect(second.waitForExit() == "exit 1")
        let complaint = second.log.split(separator: "\n").filter { $0.contains("error") }
        #expect(complaint.count == 1 && complaint.first?.contains("already") == true && complaint.first?.contains("\(first.pid)") == true,
                "one line naming the running vnetd: \(second.log)")

        #expect(first.isRunning)
        #expect(sockets.allSatisfy { FileManager.default.fileExists(atPath: $0) }, "the first vnetd's sockets are still there")
        let peer = try StreamPeer(path: sockets[0])
        let other = try StreamPeer(path: sockets[1])
        let frame = [UInt8](repeating: 0xFF, count: 6) + [0x02, 0, 0, 0, 0, 0x0A, 0x88, 0xB5] + [UInt8](repeating: 7, count: 46)
        #expect(try peer.send(frame, reaching: other), "and they still switch frames")
        #expect(first.stop() == "exit 0")
    }
}
