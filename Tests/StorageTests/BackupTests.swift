import Foundation
import GRDB
import Testing
import TestSupport
@testable import Storage

/// `vnetd backup` and `vnetd restore` at the storage level: a copy taken while writes go on is a
/// consistent snapshot (never half a transaction), and restoring it gives the same database.
@Suite("Backup and restore of the store")
struct BackupTests {
    /// Every row of every table, as text, table by table: what "an equal database" means.
    static func contents(of path: String) throws -> [String: [String]] {
        let queue = try DatabaseQueue(path: path)
        defer { try? queue.close() }
        return try queue.read { db in
            var tables: [String: [String]] = [:]
            for table in try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name") {
                tables[table] = try Row.fetchAll(db, sql: "SELECT * FROM \"\(table)\"").map { $0.description }.sorted()
            }
            return tables
        }
    }

    static func insertPair(_ database: VnetdDatabase, _ number: Int) throws {
        try database.writeForTests("""
            INSERT INTO event (occurred_at, kind, subject_kind, subject_id, subject_name, message) VALUES (\(number), 'server.started', 'server', NULL, 'vnetd', 'pair \(number) a');
            INSERT INTO event (occurred_at, kind, subject_kind, subject_id, subject_name, message) VALUES (\(number), 'server.started', 'server', NULL, 'vnetd', 'pair \(number) b');
            """)
    }

    @Test func aBackupWhileWritesGoOnIsASnapshotAndRestoresToAnEqualDatabase() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let data = folder.path + "/data"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        let database = try VnetdDatabase(directory: data)
        defer { try? database.close() }

        // A writer adds two events per transaction for at most 3 s while backups are taken.
        let stop = Flag()
        let written = Flag()
        let writer = Thread {
            var number = 0
            let deadline = Date().addingTimeInterval(3)
            while !stop.isSet && Date() < deadline {
                number += 1
                try? Self.insertPair(database, number)
            }
            written.set()
        }
        writer.start()
        var counts: [Int] = []
        for index in 0..<5 {
            usleep(100_000)
            let copy = folder.path + "/backup-\(index).sqlite"
            let summary = try DatabaseBackup.backup(dataDirectory: data, to: copy)
            #expect(summary.migrations == Migrations.migrator.migrations)
            let events = try #require(try Self.contents(of: copy)["event"]).count
            #expect(events % 2 == 0, "a transaction is in a copy whole or not at all: \(events) events")
            counts.append(events)
            let mode = try FileManager.default.attributesOfItem(atPath: copy)[.posixPermissions] as? Int
            #expect(mode == 0o600, "the copy holds password hashes: only its owner reads it")
        }
        stop.set()
        #expect(written.wait(seconds: 10))
        #expect(counts == counts.sorted() && counts.last ?? 0 > counts.first ?? 0, "the copies follow the writes: \(counts)")

        // Writes over: a last copy, restored into another folder, is the same database.
        let last = folder.path + "/last.sqlite"
        try DatabaseBackup.backup(dataDirectory: data, to: last)
        let restored = folder.path + "/restored"
        try FileManager.default.createDirectory(atPath: restored, withIntermediateDirectories: true)
        #expect(try DatabaseBackup.restore(from: last, into: restored) == nil, "nothing was there to keep")
        try database.close()
        #expect(try Self.contents(of: restored + "/" + VnetdDatabase.fileName) == Self.contents(of: data + "/" + VnetdDatabase.fileName))
        let reopened = try VnetdDatabase(directory: restored)
        #expect(try reopened.integrityCheck() == ["ok"])
        try reopened.close()
    }

    @Test func restoreKeepsTheReplacedDatabaseAndRefusesAFileItCannotUse() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let data = folder.path + "/data"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        do {
            let database = try VnetdDatabase(directory: data)
            try Self.insertPair(database, 1)
            try database.close()
        }
        try DatabaseBackup.backup(dataDirectory: data, to: folder.path + "/one.sqlite")
        do {
            let database = try VnetdDatabase(directory: data)
            try Self.insertPair(database, 2)
            try database.close()
        }
        let current = try Self.contents(of: data + "/" + VnetdDatabase.fileName)

        for (name, bytes) in [("garbage", Array("not a database at all, just text".utf8)), ("empty", [])] as [(String, [UInt8])] {
            let path = folder.path + "/\(name).sqlite"
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            #expect(throws: DatabaseBackup.Failure.self) { try DatabaseBackup.restore(from: path, into: data) }
            #expect(try Self.contents(of: data + "/" + VnetdDatabase.fileName) == current, "a refused restore changes nothing (\(name))")
        }

        let kept = try #require(try DatabaseBackup.restore(from: folder.path + "/one.sqlite", into: data))
        #expect(kept.contains("vnetd.sqlite.before-restore-"))
        #expect(try Self.contents(of: kept) == current, "the replaced database is kept, whole")
        #expect(try Self.contents(of: data + "/" + VnetdDatabase.fileName)["event"]?.count == 2, "the restored one has the first pair only")
    }

    final class Flag: @unchecked Sendable {
        private let condition = NSCondition()
        private var value = false
        var isSet: Bool { condition.withLock { value } }
        func set() { condition.withLock { value = true; condition.broadcast() } }
        func wait(seconds: Double) -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            return condition.withLock {
                while !value && condition.wait(until: deadline) {}
                return value
            }
        }
    }
}
