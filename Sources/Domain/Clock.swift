import Foundation

/// Where core logic gets the time. Production passes the system clock; tests pass a manual one.
public protocol Clock: Sendable {
    func now() -> Date
}

/// A clock that only moves when told to, for tests of time-dependent rules.
public final class ManualClock: Clock, @unchecked Sendable {
    private let lock = NSLock()
    private var current: Date

    public init(_ start: Date = Date(timeIntervalSince1970: 1_800_000_000)) {
        current = start
    }

    public func now() -> Date {
        lock.withLock { current }
    }

    public func advance(by seconds: TimeInterval) {
        lock.withLock { current += seconds }
    }
}
