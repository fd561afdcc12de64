import Foundation

/// How much of the event log is kept. An event goes when it is older than `maximumAge`, or
/// when `maximumCount` newer events exist; pruning deletes at most `batchSize` rows per
/// transaction, so requests that record events never wait long for the write lock.
public struct EventRetention: Sendable, Equatable {
    public var maximumCount: Int
    /// nil: events are kept however old, within `maximumCount`. At most 100 years.
    public var maximumAge: TimeInterval?
    public var batchSize: Int

    public static let defaultMaximumCount = 100_000

    public init(maximumCount: Int = EventRetention.defaultMaximumCount, maximumAge: TimeInterval? = nil, batchSize: Int = 500) {
        self.maximumCount = max(1, maximumCount)
        self.maximumAge = maximumAge.map { min(max(0, $0), 100 * 365 * 86_400) }
        self.batchSize = max(1, batchSize)
    }
}

/// Applies an `EventRetention` to a log, a batch at a time. Meant to run off the request path
/// (a timer on its own thread or task); `now` comes from the caller's clock.
public struct EventPruner: Sendable {
    let log: any EventLog
    public let retention: EventRetention

    public init(log: any EventLog, retention: EventRetention) {
        self.log = log
        self.retention = retention
    }

    /// Deletes up to `maximumBatches` batches of events beyond the retention, each in its own
    /// transaction; stops early when a batch finds less than its size. Returns how many went.
    @discardableResult
    public func prune(now: Date, maximumBatches: Int = 20) throws -> Int {
        let cutoff = retention.maximumAge.map { now.addingTimeInterval(-$0) }
        var deleted = 0
        for _ in 0..<max(1, maximumBatches) {
            let count = try log.prune(keepingNewest: retention.maximumCount, olderThan: cutoff, limit: retention.batchSize)
            deleted += count
            if count < retention.batchSize { break }
        }
        return deleted
    }
}
