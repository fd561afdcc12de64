import Foundation
import Storage
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// `vnetd backup` and `vnetd restore` as an administrator runs them, beside the real `vnetd serve`:
/// copies taken while a browser keeps creating networks, a restore refused while vnetd runs, and
/// one done after the stop that vnetd then serves.
@Suite("Backup and restore commands, on the real binary", .serialized)
struct BackupCommandTests {
    @Test func backupWhileServingAndWritingThenRestoreOnlyWhenStopped() throws {
        let binary = try #require(vnetdExecutable, "the vnetd executable is built by `swift build`")
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let data = folder.path + "/data"
        let vnetd = try VnetdProcess(data: data, logFile: folder.path + "/vnetd.log")
        let browser = try SignedInClient(port: vnetd.port, initialPasswordFile: data + "/initial-admin-password")

        // A browser creates networks (each one transaction) for at most 4 s while copies are taken.
        let created = Counter()
        let writer = Thread {
            let deadline = Date().addingTimeInterval(4)
            while Date() < deadline && created.value < 80 {
                if (try? browser.post("/networks", [("name", "Net \(created.value)"), ("notes", "")]))?.status == 303 { created.increment() }
                usleep(20_000)
            }
            created.finish()
        }
        writer.start()
        var copies: [String] = []
        for index in 0..<3 {
            usleep(300_000)
            let copy = folder.path + "/copy-\(index).sqlite"
            let result = try run([binary, "backup", copy, "--data-dir", data], check: false)
            #expect(result.status == 0 && result.output.hasPrefix("wrote \(copy): "), "\(result.output)")
            copies.append(copy)
        }
        #expect(created.waitUntilFinished(seconds: 20))
        #expect(created.value > 0)
        let last = folder.path + "/last.sqlite"
        #expect(try run([binary, "backup", last, "--data-dir", data]).status == 0)

        // Restoring is refused while vnetd serves from the folder, and nothing changes.
        let refused = try run([binary, "restore", copies[0], "--data-dir", data], check: false)
        #expect(refused.status == 1)
        #expect(refused.output.contains("is running with the data folder") && refused.output.contains("stop it first"), "\(refused.output)")
        #expect(refused.output.contains("pid \(vnetd.pid)"))
        #expect(vnetd.isRunning)
        #expect(try Self.networkCount(browser) == created.value)
        #expect(vnetd.stop() == "exit 0")

        // Stopped: the first copy goes back; vnetd serves what it held, and the replaced file is kept.
        let inFirst = try Self.networkCount(inCopy: copies[0], folder: folder.path)
        #expect(inFirst > 0 && inFirst < created.value, "the first copy was taken while networks were being made: \(inFirst) of \(created.value)")
        let restored = try run([binary, "restore", copies[0], "--data-dir", data], check: false)
        #expect(restored.status == 0 && restored.output.contains("the database it replaced is \(data)/vnetd.sqlite.before-restore-"), "\(restored.output)")
        let again = try VnetdProcess(data: data, logFile: folder.path + "/again.log")
        #expect(try Self.networkCount(SignedInClient(port: again.port, initialPasswordFile: data + "/initial-admin-password")) == inFirst)
        #expect(again.stop() == "exit 0")

        // And the last copy brings back every network the browser made.
        #expect(try run([binary, "restore", last, "--data-dir", data]).status == 0)
        let final = try VnetdProcess(data: data, logFile: folder.path + "/final.log")
        #expect(try Self.networkCount(SignedInClient(port: final.port, initialPasswordFile: data + "/initial-admin-password")) == created.value)
        #expect(final.stop() == "exit 0")
    }

    /// `sudo vnetd restore` into the service's folder (owned by its user) must leave a database
    /// that user can open: before, the restored file was root's, 0600, and the service could not start.
    @Test(.enabled(if: rootTestsRun, Comment(rawValue: needsRoot)))
    func aRestoreByRootLeavesTheDatabaseToTheDataFoldersOwner() throws {
        let binary = try #require(vnetdExecutable, "the vnetd executable is built by `swift build`")
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let data = folder.path + "/data"
        let vnetd = try VnetdProcess(data: data, logFile: folder.path + "/vnetd.log")
        #expect(vnetd.stop() == "exit 0")
        let copy = folder.path + "/copy.sqlite"
        #expect(try run([binary, "backup", copy, "--data-dir", data]).status == 0)
        try run(["chmod", "755", folder.path])
        try run(["chown", "-R", "65534:65534", data])
        let asService = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", binary]

        #expect(try run([binary, "restore", copy, "--data-dir", data]).status == 0, "root restores")
        var restored = stat()
        #expect(stat(data + "/vnetd.sqlite", &restored) == 0)
        #expect(restored.st_uid == 65534 && restored.st_gid == 65534, "the restored database is the folder owner's: \(restored.st_uid):\(restored.st_gid)")
        let opened = try run(asService + ["backup", data + "/by-service.sqlite", "--data-dir", data], check: false)
        #expect(opened.status == 0, "the service's user opens it: \(opened.output)")
    }

    /// Networks the site lists, from its JSON.
    static func networkCount(_ browser: SignedInClient) throws -> Int {
        let reply = try browser.client.get("/networks", headers: ["Cookie": browser.cookieHeader, "Accept": "application/json"])
        return (try JSONSerialization.jsonObject(with: Data(reply.body)) as? [Any])?.count ?? -1
    }

    /// Networks in a backup file, read by today's store from a copy of it.
    static func networkCount(inCopy file: String, folder: String) throws -> Int {
        let scratch = folder + "/scratch-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: file, toPath: scratch + "/" + VnetdDatabase.fileName)
        let database = try VnetdDatabase(directory: scratch)
        defer { try? database.close() }
        return try SQLiteInventoryStore(database: database).read { try $0.allNetworks() }.count
    }

    final class Counter: @unchecked Sendable {
        private let condition = NSCondition()
        private var count = 0
        private var finished = false
        var value: Int { condition.withLock { count } }
        func increment() { condition.withLock { count += 1 } }
        func finish() { condition.withLock { finished = true; condition.broadcast() } }
        func waitUntilFinished(seconds: Double) -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            return condition.withLock {
                while !finished && condition.wait(until: deadline) {}
                return finished
            }
        }
    }
}
