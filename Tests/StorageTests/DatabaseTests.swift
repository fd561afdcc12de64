import Domain
import Foundation
import Testing
import TestSupport
@testable import Storage

@Suite("SQLite store")
struct DatabaseTests {
    @Test func freshFileGetsEveryMigrationInWALMode() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let database = try VnetdDatabase(directory: folder.path)
        #expect(try database.appliedMigrations() == Migrations.migrator.migrations)
        #expect(try database.journalMode() == "wal")
        #expect(FileManager.default.fileExists(atPath: folder.path + "/vnetd.sqlite"))
        try database.close()
    }

    @Test func reopeningKeepsDataAndDoesNotReapplyMigrations() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let clock = ManualClock()
        do {
            let database = try VnetdDatabase(directory: folder.path)
            try EventRecorder(log: SQLiteEventLog(database: database), clock: clock)
                .record(.serverStarted, .server, "first run")
            try database.close()
        }
        let reopened = try VnetdDatabase(directory: folder.path)
        defer { try? reopened.close() }
        #expect(try reopened.appliedMigrations() == Migrations.migrator.migrations)
        let page = try SQLiteEventLog(database: reopened).page(offset: 0, limit: 10)
        #expect(page.events.map(\.message) == ["first run"])
    }

    @Test func eventsComeBackNewestFirstWithTotals() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let database = try VnetdDatabase(directory: folder.path)
        defer { try? database.close() }
        let clock = ManualClock()
        let recorder = EventRecorder(log: SQLiteEventLog(database: database), clock: clock)
        for index in 1...7 {
            try recorder.record(EventKind(rawValue: "test.step"), EventSubject(kind: .network, id: "n\(index)", name: "Net \(index)"), "step \(index)")
            clock.advance(by: 1.5)
        }
        let log = SQLiteEventLog(database: database)
        let first = try log.page(offset: 0, limit: 3)
        #expect(first.totalCount == 7)
        #expect(first.events.map(\.message) == ["step 7", "step 6", "step 5"])
        let last = try log.page(offset: 6, limit: 3)
        #expect(last.events.map(\.message) == ["step 1"])
        let stored = try #require(last.events.first)
        #expect(stored.subject == EventSubject(kind: .network, id: "n1", name: "Net 1"))
        #expect(stored.time == ManualClock().now())
        #expect(stored.id != nil)
    }

    @Test func inventoryCountsRows() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let database = try VnetdDatabase(directory: folder.path)
        defer { try? database.close() }
        #expect(try SQLiteInventoryStore(database: database).read { try $0.summary() } == InventorySummary())
        try database.writer.write { db in
            try db.execute(sql: """
                INSERT INTO network (id, name, name_key, created_at, changed_at) VALUES ('n1', 'Lab', 'lab', 0, 0);
                INSERT INTO vm (id, name, name_key, created_at, changed_at) VALUES ('v1', 'VM', 'vm', 0, 0);
                INSERT INTO nic (id, vm_id, slot, network_id, mac) VALUES ('c1', 'v1', 1, 'n1', '00:03:ff:00:00:01');
                INSERT INTO nic (id, vm_id, slot, mac) VALUES ('c2', 'v1', 2, '00:03:ff:00:00:02');
                """)
        }
        #expect(try SQLiteInventoryStore(database: database).read { try $0.summary() }
            == InventorySummary(networks: 1, virtualMachines: 1, nics: 2, connectedNICs: 1))
    }
}
