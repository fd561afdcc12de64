import Domain
import Foundation
import Switching
import Synchronization

/// Writes lease changes on its own thread, a batch per transaction, and hands the replies that
/// waited for them back to the loop only after the commit: an ACK never promises a lease that a
/// crash could lose. Batching is what lets a thousand clients starting at once cost a few
/// transactions rather than a thousand fsyncs.
final class LeasePersister: @unchecked Sendable {
    struct Pending: Sendable {
        let network: NetworkID
        let frame: [UInt8]
        let port: PortID
    }

    private let store: any LeaseStore
    private let queue = Mutex<[([LeaseRecord], Pending?)]>([])
    private let queued = Atomic<Int>(0)
    private let wake = DispatchSemaphore(value: 0)
    private let stopped = Mutex(false)
    private let finished = DispatchSemaphore(value: 0)
    private let deliver: @Sendable ([Pending]) -> Void
    private let report: @Sendable (any Error) -> Void

    init(store: any LeaseStore, deliver: @escaping @Sendable ([Pending]) -> Void, report: @escaping @Sendable (any Error) -> Void) {
        self.store = store
        self.deliver = deliver
        self.report = report
        let thread = Thread { [self] in run() }
        thread.name = "vnetd-leases"
        thread.start()
    }

    /// Stores `records` (in order, with everything queued before them), then hands `reply` back.
    func enqueue(_ records: [LeaseRecord], reply: Pending?) {
        queue.withLock { $0.append((records, reply)) }
        queued.add(records.count, ordering: .relaxed)
        wake.signal()
    }

    /// Lease records handed over and not yet stored (read on the loop thread, without a lock).
    var backlog: Int { queued.load(ordering: .relaxed) }

    func stop() {
        stopped.withLock { $0 = true }
        wake.signal()
        finished.wait()
    }

    private func run() {
        while true {
            wake.wait()
            let batch = queue.withLock { items -> [([LeaseRecord], Pending?)] in
                defer { items.removeAll() }
                return items
            }
            if !batch.isEmpty {
                defer { queued.subtract(batch.reduce(0) { $0 + $1.0.count }, ordering: .relaxed) }
                do {
                    try store.save(batch.flatMap(\.0))
                    deliver(batch.compactMap(\.1))
                } catch {
                    // Not stored, so not acknowledged: the clients will ask again.
                    report(error)
                }
            }
            if stopped.withLock({ $0 }) && queue.withLock({ $0.isEmpty }) { break }
        }
        finished.signal()
    }
}
