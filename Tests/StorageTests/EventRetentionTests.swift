import Domain
import Foundation
import Testing
import TestSupport
@testable import Storage

@Suite("Event log retention")
final class EventRetentionTests {
    let folder: TemporaryDirectory
    let database: VnetdDatabase
    let log: SQLiteEventLog
    let clock = ManualClock()

    init() throws {
        folder = try TemporaryDirectory()
        database = try VnetdDatabase(directory: folder.path)
        log = SQLiteEventLog(database: database)
    }

    deinit {
        try? database.close()
        folder.remove()
    }

    func record(_ count: Int, every seconds: TimeInterval = 1) throws {
        let recorder = EventRecorder(log: log, clock: clock)
        for index in 0..<count {
            try recorder.record(EventKind(rawValue: "test.step"), .server, "step \(index)")
            clock.advance(by: seconds)
        }
    }

    @Test func pruningKeepsTheNewestAndDeletesAtMostOneBatchPerCall() throws {
        try record(25)
        #expect(try log.prune(keepingNewest: 10, olderThan: nil, limit: 4) == 4)
        #expect(try log.page(offset: 0, limit: 100).totalCount == 21)
        #expect(try log.page(offset: 0, limit: 100).events.last?.message == "step 4", "the oldest went first")
        var deleted = 0
        while case let count = try log.prune(keepingNewest: 10, olderThan: nil, limit: 4), count > 0 { deleted += count }
        #expect(deleted == 11)
        let kept = try log.page(offset: 0, limit: 100)
        #expect(kept.totalCount == 10)
        #expect(kept.events.map(\.message) == (15..<25).reversed().map { "step \($0)" })
        #expect(try log.prune(keepingNewest: 10, olderThan: nil, limit: 4) == 0)
    }

    @Test func pruningByAgeDeletesOnlyOlderEvents() throws {
        try record(10, every: 60)
        let cutoff = clock.now().addingTimeInterval(-5 * 60 - 1)
        #expect(try log.prune(keepingNewest: 1000, olderThan: cutoff, limit: 100) == 5)
        #expect(try log.page(offset: 0, limit: 100).events.map(\.message).last == "step 5")
    }

    @Test func eitherBoundPrunes() throws {
        try record(10, every: 60)
        #expect(try log.prune(keepingNewest: 8, olderThan: clock.now().addingTimeInterval(-10_000), limit: 100) == 2)
        #expect(try log.prune(keepingNewest: 8, olderThan: clock.now().addingTimeInterval(-4 * 60 - 1), limit: 100) == 4)
        #expect(try log.page(offset: 0, limit: 100).totalCount == 4)
    }

    @Test func thePrunerWorksThroughABacklogInBatches() throws {
        try record(50)
        let pruner = EventPruner(log: log, retention: EventRetention(maximumCount: 20, maximumAge: nil, batchSize: 7))
        #expect(try pruner.prune(now: clock.now(), maximumBatches: 2) == 14)
        #expect(try pruner.prune(now: clock.now()) == 16)
        #expect(try log.page(offset: 0, limit: 100).totalCount == 20)
        #expect(EventRetention().maximumCount == 100_000)
    }
}
