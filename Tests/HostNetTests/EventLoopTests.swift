import Foundation
import Logging
import Synchronization
import Testing
@testable import HostNet

@Suite("Event loop")
struct EventLoopTests {
    /// A port whose flush hands work to the next one, as the DHCP server's reply does to the
    /// QEMU port it is for.
    final class Relay: Flushable, @unchecked Sendable {
        let name: String
        let loop: EventLoop
        let next: Relay?
        let log: FlushLog

        init(_ name: String, loop: EventLoop, next: Relay?, log: FlushLog) {
            self.name = name
            self.loop = loop
            self.next = next
            self.log = log
        }

        func flushOutput() {
            log.entries.withLock { $0.append((name, loop.round)) }
            if let next { loop.markDirty(next) }
        }
    }

    final class FlushLog: Sendable {
        let entries = Mutex<[(String, UInt64)]>([])
    }

    /// An ARP reply from the DHCP server to a QEMU port used to wait up to a second for the next
    /// round, long enough for a client that sends RELEASE and stops to give up.
    @Test func outputThatAFlushQueuesLeavesInTheSameRound() throws {
        let loop = try EventLoop(logger: Logger(label: "test"))
        loop.start(name: "test-loop")
        defer { loop.stop() }
        let log = FlushLog()
        let socket = Relay("socket", loop: loop, next: nil, log: log)
        let server = Relay("server", loop: loop, next: socket, log: log)
        let posted = Mutex<UInt64>(0)
        loop.post { [loop] in
            posted.withLock { $0 = loop.round }
            loop.markDirty(server)
        }
        loop.settle()
        loop.settle()
        let round = posted.withLock { $0 }
        let flushed = log.entries.withLock { $0 }
        #expect(flushed.map(\.0) == ["server", "socket"])
        #expect(flushed.allSatisfy { $0.1 == round }, "both flushed in round \(round): \(flushed)")
    }

    /// A flush that always queues more cannot hold the loop: posted work still runs.
    @Test func aFlushThatNeverSettlesDoesNotStarveTheLoop() throws {
        let loop = try EventLoop(logger: Logger(label: "test"))
        loop.start(name: "test-loop")
        defer { loop.stop() }
        final class Restless: Flushable, @unchecked Sendable {
            let loop: EventLoop
            let count = Atomic<Int>(0)
            var running = true
            init(loop: EventLoop) { self.loop = loop }
            func flushOutput() {
                count.add(1, ordering: .relaxed)
                if running { loop.markDirty(self) }
            }
        }
        let restless = Restless(loop: loop)
        loop.post { [loop] in loop.markDirty(restless) }
        #expect(loop.sync { 42 } == 42)
        loop.sync { restless.running = false }
        #expect(restless.count.load(ordering: .relaxed) > 1)
    }

    /// At shutdown the lease writer may still post a reply: it must not land in whatever file
    /// now has the loop's old eventfd number, nor wait for a loop that is gone.
    @Test func workPostedAfterStopIsDroppedAndSyncStillReturns() throws {
        let loop = try EventLoop(logger: Logger(label: "test"))
        loop.start(name: "test-loop")
        loop.stop()
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        defer { close(fds[0]); close(fds[1]) }
        _ = fcntl(fds[0], F_SETFL, O_NONBLOCK)
        let ran = Atomic<Bool>(false)
        loop.post { ran.store(true, ordering: .relaxed) }
        var byte: UInt8 = 0
        #expect(read(fds[0], &byte, 1) < 0, "nothing written to a reused descriptor")
        #expect(ran.load(ordering: .relaxed) == false)
        #expect(loop.sync { 7 } == 7)
    }
}
