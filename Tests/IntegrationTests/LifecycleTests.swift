import Dataplane
import Foundation
import Storage
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

    /// systemd stops with SIGTERM, a terminal with SIGINT: either is a clean stop.
    @Test(arguments: [SIGTERM, SIGINT])
    func aSignalStopsVnetdCleanly(signal: Int32) throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let data = try Self.populated(folder)
        let process = try VnetdProcess(data: data, logFile: folder.path + "/vnetd.log")
        let sockets = try Self.sockets(in: data)
        #expect(sockets.count == 2)
        #expect(process.stop(signal: signal) == "exit 0")
        #expect(try process.storedEventKinds().first == "server.stopped", "the stop is in the Event Viewer")
        #expect(sockets.allSatisfy { !FileManager.default.fileExists(atPath: $0) }, "its sockets are removed")
        #expect(!FileManager.default.fileExists(atPath: data + "/run/x"), "nothing else left behind")
        #expect(process.errorLines().isEmpty, "\(process.errorLines())")
    }

    /// Its TAP interfaces belong to the process: gone after a clean stop.
    @Test(.enabled(if: rootTestsRun, Comment(rawValue: needsRoot)))
    func aCleanStopRemovesItsTAPs() throws {
        let vnetd = try #require(vnetdExecutable, "the vnetd executable is built by `swift build`")
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let data = folder.path + "/data"
        try run([vnetd, "populate", "--data-dir", data, "--networks", "1", "--vms", "2", "--backend", "tap"])
        let process = try VnetdProcess(data: data, logFile: folder.path + "/vnetd.log")
        // Its own TAPs by name (other suites run vnetds with TAPs of their own at the same time).
        let database = try VnetdDatabase(directory: data)
        let own = Set(try SQLiteInventoryStore(database: database).read { try $0.allNICs() }.map { Dataplane.tapName($0.id) })
        try database.close()
        func taps() throws -> Set<String> {
            Set(try run(["ip", "-br", "link"]).output.split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) }
                .map { $0.split(separator: "@").first.map(String.init) ?? $0 })
        }
        #expect(eventually { (try? taps().isSuperset(of: own)) == true } && own.count == 2, "its two TAPs exist while it runs")
        let before = own
        #expect(process.stop() == "exit 0")
        #expect(try Set(taps()).isDisjoint(with: before), "its TAPs are gone")
    }

    /// Each start-up failure: one line that says what is wrong, and exit status 1 (64, EX_USAGE,
    /// with a pointer to --help, for a malformed option).
    @Test func startUpFailuresExitWithOneLine() throws {
        let vnetd = try #require(vnetdExecutable, "the vnetd executable is built by `swift build`")
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let busy = try VnetdProcess(data: folder.path + "/busy", logFile: folder.path + "/busy.log")
        defer { busy.stop() }
        let key = folder.path + "/key.pem", cert = folder.path + "/cert.pem", otherKey = folder.path + "/other.pem"
        try run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                 "-days", "2", "-subj", "/CN=vnetd.test"])
        try run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", otherKey])
        let common = ["--templates", repositoryRoot + "/Templates", "--public", repositoryRoot + "/Public"]
        let cases: [(String, [String], String, Int32)] = [
            ("port in use", ["--listen", "127.0.0.1:\(busy.port)", "--data-dir", folder.path + "/a"] + common, "\(busy.port)", 1),
            ("mismatched key", ["--listen", "127.0.0.1:0", "--data-dir", folder.path + "/c", "--tls-cert", cert, "--tls-key", otherKey] + common, "key", 1),
            ("missing templates", ["--listen", "127.0.0.1:0", "--data-dir", folder.path + "/d", "--templates", folder.path + "/none", "--public", repositoryRoot + "/Public"], "template folder", 1),
            ("bad --listen", ["--listen", "nonsense", "--data-dir", folder.path + "/b"] + common, "--listen takes host:port", 64),
        ]
        for (name, arguments, mention, expected) in cases {
            let (status, output) = try run([vnetd, "serve", "--log-level", "error"] + arguments, check: false)
            let lines = output.split(separator: "\n").filter { !$0.isEmpty }
            #expect(status == expected, "\(name): exit status \(status)")
            let problems = lines.filter { !$0.hasPrefix("Usage:") && !$0.contains("--help") }
            #expect(problems.count == 1 && problems.first?.localizedCaseInsensitiveContains(mention) == true, "\(name): one line naming the problem: \(lines)")
        }
    }

    /// The event log keeps what --event-retention says, pruned off the request path.
    @Test func theEventLogKeepsItsRetention() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let data = try Self.populated(folder)
        let process = try VnetdProcess(data: data, logFile: folder.path + "/vnetd.log", arguments: ["--event-retention", "3"])
        #expect(eventually(5) { ((try? process.storedEventKinds()) ?? []).count <= 3 }, "the oldest events went")
        #expect(try process.storedEventKinds().first == "server.started", "the newest stayed")
        #expect(process.stop() == "exit 0")
    }
}
