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

    @Test(.enabled(if: rootIsRequired)) func ciRunsTheRootTestsAsRoot() {
        #expect(isRoot, "VNETD_REQUIRE_ROOT=1: the data-path tests need root and must not be skipped")
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

    /// A log is read by more people and kept longer than a 0600 file.
    @Test func theFirstPasswordIsWrittenOnlyToItsFile() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let data = folder.path + "/data"
        let process = try VnetdProcess(data: data, logFile: folder.path + "/vnetd.log")
        let password = try String(contentsOfFile: data + "/initial-admin-password", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(password.count >= 20)
        #expect(!process.log.contains(password), "the password is not in the log")
        #expect(process.log.contains(data + "/initial-admin-password"), "the log says where it is")
        #expect(process.stop() == "exit 0")
    }

    /// DNS rebinding: only the names vnetd serves are answered.
    @Test func namesGivenWithServerNameAreServedAndOthersRefused() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let process = try VnetdProcess(data: folder.path + "/data", logFile: folder.path + "/vnetd.log", arguments: ["--server-name", "vnetd.example"])
        func status(host: String) throws -> Int {
            try HTTPTestClient(port: process.port).exchange(Array("GET /login HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n".utf8)).status
        }
        #expect(try status(host: "vnetd.example") == 200)
        #expect(try status(host: "vnetd.example:\(process.port)") == 200)
        #expect(try status(host: "127.0.0.1:\(process.port)") == 200)
        #expect(try status(host: "rebound.attacker.example") == 421)
        #expect(process.stop() == "exit 0")
    }
}
