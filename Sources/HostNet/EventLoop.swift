import CLinuxNet
import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A port with buffered output, flushed once after each round of events (batched writes).
public protocol Flushable: AnyObject {
    func flushOutput()
}

/// Something the loop calls when its file descriptor is ready.
public protocol IOHandler: AnyObject {
    /// Called on the loop thread with the epoll event bits.
    func handle(events: UInt32)
    /// The port this handler serves (itself unless it is a helper, such as a listening socket's):
    /// a port moving to another loop takes every descriptor whose handler it owns.
    var owner: AnyObject { get }
}

extension IOHandler {
    public var owner: AnyObject { self }
}

/// An epoll loop on a dedicated thread: the only thread that touches switches and ports.
///
/// Other threads talk to it by `post`ing closures, which run on the loop thread in order; an
/// eventfd wakes the loop. Every second the loop runs its `tick` callback (aging, history).
/// After each round of events it runs `flush`, so ports can batch their writes.
public final class EventLoop: @unchecked Sendable {
    private let epoll: Int32
    private let wake: Int32
    /// Work posted from other threads; `open` turns false once the loop has stopped, after
    /// which posts are refused (the eventfd is closed) and `sync` runs its work on the caller.
    private let pending = Mutex<(open: Bool, work: [@Sendable () -> Void])>((true, []))
    // Loop-thread state.
    private var handlers: [Int32: any IOHandler] = [:]
    /// The epoll events each descriptor asked for, so a port can take them to another loop.
    private var interests: [Int32: UInt32] = [:]
    private var running = true
    private var thread: Thread?
    private let finished = DispatchSemaphore(value: 0)
    private var nextTick: Int64 = 0
    private var dirty: [any Flushable] = []
    /// One-shot work due at a monotonic time, in no particular order (there are only ever a few).
    private var timers: [(due: Int64, work: () -> Void)] = []
    /// Monotonic milliseconds at the start of the current round: one clock read per round, not per frame.
    public private(set) var now: Int64 = 0
    /// The kernel's id of the loop thread, once it runs (for per-thread CPU figures).
    public var threadID: Int32 { threadIdentifier.load(ordering: .acquiring) }
    private let threadIdentifier = Atomic<Int32>(0)
    /// Rounds completed (one `epoll_wait` each). Loop thread only.
    public private(set) var round: UInt64 = 0
    /// Passes over dirty ports per round: output queued by a flush (the DHCP server's reply to a
    /// QEMU port) leaves in the same round; a port that keeps queuing is finished next round.
    static let flushPasses = 16
    /// Where this loop's datagram ports receive (one at a time: the loop runs one handler at once).
    lazy var datagramBatch = DatagramBatch(count: 32, slotSize: 65_535 + 18)
    public var tick: (Int64) -> Void = { _ in }
    public var flush: () -> Void = {}
    let logger: Logger

    public init(logger: Logger) throws(SystemError) {
        self.logger = logger
        epoll = Int32(try Syscall.check("epoll_create1") { Int(epoll_create1(Int32(EPOLL_CLOEXEC))) })
        wake = Int32(try Syscall.check("eventfd") { Int(eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))) })
        var event = epoll_event(events: EPOLLIN.rawValue, data: epoll_data_t(fd: wake))
        try Syscall.check("epoll_ctl") { Int(epoll_ctl(epoll, EPOLL_CTL_ADD, wake, &event)) }
    }

    public func start(name: String) {
        let thread = Thread { [self] in run() }
        thread.name = name
        thread.stackSize = 1 << 20
        self.thread = thread
        thread.start()
    }

    /// Runs `work` on the loop thread, after everything posted before it.
    /// Work posted after `stop` is dropped: nothing is left for it to act on.
    /// Returns false when the work was dropped.
    @discardableResult
    public func post(_ work: @escaping @Sendable () -> Void) -> Bool {
        let accepted = pending.withLock { queue -> Bool in
            guard queue.open else { return false }
            queue.work.append(work)
            // Inside the lock, so `stop` cannot close the eventfd between the check and the write.
            var one: UInt64 = 1
            _ = write(wake, &one, 8)
            return true
        }
        if !accepted { logger.debug("work posted to a stopped event loop was dropped") }
        return accepted
    }

    /// Runs `work` on the loop thread and waits for its result (for status reads and tests).
    /// After `stop`, nothing else touches the loop's state: the work runs on the caller's thread.
    public func sync<T: Sendable>(_ work: @escaping @Sendable () -> T) -> T {
        let box = Mutex<T?>(nil)
        let done = DispatchSemaphore(value: 0)
        let posted = post {
            let value = work()
            box.withLock { $0 = value }
            done.signal()
        }
        guard posted else { return work() }
        done.wait()
        return box.withLock { $0! }
    }

    /// Waits until everything posted before has run (tests).
    public func settle() {
        sync { () }
    }

    /// Stops the loop after the work already posted, and waits for the thread to end.
    public func stop() {
        post { [self] in running = false }
        finished.wait()
        let late = pending.withLock { queue -> [@Sendable () -> Void] in
            queue.open = false
            defer { queue.work.removeAll() }
            return queue.work
        }
        late.forEach { $0() }
        Syscall.close(epoll)
        Syscall.close(wake)
    }

    // MARK: loop-thread API

    public func register(_ fd: Int32, _ handler: any IOHandler, events: UInt32 = EPOLLIN.rawValue) throws(SystemError) {
        var event = epoll_event(events: events, data: epoll_data_t(fd: fd))
        try Syscall.check("epoll_ctl(ADD)") { Int(epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event)) }
        handlers[fd] = handler
        interests[fd] = events
    }

    public func modify(_ fd: Int32, events: UInt32) {
        var event = epoll_event(events: events, data: epoll_data_t(fd: fd))
        _ = epoll_ctl(epoll, EPOLL_CTL_MOD, fd, &event)
        interests[fd] = events
    }

    /// A descriptor on its way from one loop to another, with its handler and events.
    public struct Registration {
        let fd: Int32
        let handler: any IOHandler
        let events: UInt32
    }

    /// Takes every descriptor whose handler `owner` owns off this loop, after sending the output
    /// it has queued: the first half of a port's move to another loop. Loop thread only.
    public func release(_ owner: AnyObject) -> [Registration] {
        if dirty.contains(where: { $0 === owner }) {
            dirty.removeAll { $0 === owner }
            (owner as? any Flushable)?.flushOutput()
        }
        let taken = handlers.filter { $0.value.owner === owner }.map { Registration(fd: $0.key, handler: $0.value, events: interests[$0.key] ?? 0) }
        for registration in taken { unregister(registration.fd) }
        return taken
    }

    /// The second half of a move, on this loop's thread: the descriptors `release` took from another.
    public func take(_ registrations: [Registration]) throws(SystemError) {
        for registration in registrations {
            try register(registration.fd, registration.handler, events: registration.events)
        }
    }

    /// Registers a descriptor a port just opened; if that fails, closes it, so a failed port
    /// never leaks one.
    public func adopt(_ fd: Int32, _ handler: any IOHandler, events: UInt32 = EPOLLIN.rawValue) throws(SystemError) {
        do {
            try register(fd, handler, events: events)
        } catch {
            Syscall.close(fd)
            throw error
        }
    }

    /// Runs `work` on the loop thread once, `milliseconds` from now. Loop thread only.
    public func runAfter(milliseconds: Int64, _ work: @escaping () -> Void) {
        timers.append((Syscall.monotonicMilliseconds() + max(0, milliseconds), work))
    }

    /// Asks for `port.flushOutput()` at the end of this round.
    public func markDirty(_ port: any Flushable) {
        dirty.append(port)
    }

    public func unregister(_ fd: Int32) {
        _ = epoll_ctl(epoll, EPOLL_CTL_DEL, fd, nil)
        handlers[fd] = nil
        interests[fd] = nil
    }

    private func run() {
        threadIdentifier.store(vnetd_thread_id(), ordering: .releasing)
        var events = [epoll_event](repeating: epoll_event(), count: 64)
        nextTick = Syscall.monotonicMilliseconds() + 1000
        while running {
            let now = Syscall.monotonicMilliseconds()
            let deadline = timers.reduce(nextTick) { min($0, $1.due) }
            let timeout = dirty.isEmpty ? Int32(max(0, min(1000, deadline - now))) : 0
            let count = events.withUnsafeMutableBufferPointer { epoll_wait(epoll, $0.baseAddress, 64, timeout) }
            self.now = Syscall.monotonicMilliseconds()
            if count < 0 && errno != EINTR {
                // Never expected with a valid descriptor; keep serving posted work so that no
                // caller of `sync` waits forever, and say so.
                logger.error("epoll_wait failed", metadata: ["errno": "\(errno)"])
                runPosted()
                usleep(10_000)
                continue
            }
            for index in 0..<max(0, Int(count)) {
                let fd = events[index].data.fd
                if fd == wake {
                    var value: UInt64 = 0
                    _ = read(wake, &value, 8)
                    runPosted()
                } else if let handler = handlers[fd] {
                    handler.handle(events: events[index].events)
                }
            }
            var passes = 0
            while !dirty.isEmpty && passes < Self.flushPasses {
                let ports = dirty
                dirty.removeAll(keepingCapacity: true)
                for port in ports { port.flushOutput() }
                passes += 1
            }
            flush()
            let after = Syscall.monotonicMilliseconds()
            if !timers.isEmpty, timers.contains(where: { $0.due <= after }) {
                let due = timers.filter { $0.due <= after }
                timers.removeAll { $0.due <= after }
                for timer in due { timer.work() }
            }
            if after >= nextTick {
                tick(after)
                nextTick = after + 1000
            }
            round &+= 1
        }
        finished.signal()
    }

    private func runPosted() {
        let work = pending.withLock { queue -> [@Sendable () -> Void] in
            defer { queue.work.removeAll() }
            return queue.work
        }
        work.forEach { $0() }
    }
}

/// A batch of datagram slots for `recvmmsg` (see `DatagramSocketPort`), allocated once per loop.
final class DatagramBatch {
    let pointer: OpaquePointer
    let count: Int
    let slotSize: Int

    init(count: Int, slotSize: Int) {
        guard let pointer = vnetd_dgram_batch_new(Int32(count), slotSize) else { fatalError("out of memory for a datagram batch") }
        self.pointer = pointer
        self.count = count
        self.slotSize = slotSize
    }

    deinit {
        vnetd_dgram_batch_free(pointer)
    }
}
