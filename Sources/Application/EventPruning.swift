import Domain
import Foundation
import Logging
import Synchronization

/// Keeps the event log within its retention: once at start, then every minute, on a thread of
/// its own, never on a request's. Each pass deletes in small batches (`EventPruner`), so a
/// long-neglected log shrinks over a few minutes without holding the database for long.
final class EventPruning: Sendable {
    private let stopped = Mutex(false)
    private let wake = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    static let interval: TimeInterval = 60

    init(pruner: EventPruner, clock: any Domain.Clock, logger: Logger) {
        let thread = Thread { [self] in
            while true {
                do {
                    try pruner.prune(now: clock.now())
                } catch {
                    logger.warning("could not prune the event log", metadata: ["error": "\(error)"])
                }
                _ = wake.wait(timeout: .now() + Self.interval)
                if stopped.withLock({ $0 }) { break }
            }
            finished.signal()
        }
        thread.name = "vnetd-events"
        thread.start()
    }

    /// Ends the thread (after the pass under way); the database may close afterwards.
    func stop() {
        guard !stopped.withLock({ stopped in defer { stopped = true }; return stopped }) else { return }
        wake.signal()
        finished.wait()
    }
}
