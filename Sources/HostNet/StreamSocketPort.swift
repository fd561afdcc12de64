import CLinuxNet
import Switching

#if canImport(Glibc)
import Glibc
#endif

/// A unix stream socket QEMU connects to with
/// `-netdev stream,server=off,addr.type=unix,addr.path=PATH`: each frame is preceded by its
/// length, 4 bytes big-endian.
///
/// vnetd listens before any QEMU starts (QEMU 7.2 connects once and never retries) and accepts a
/// new connection whenever no peer is attached: a QEMU that restarts simply connects again (the
/// old one's hang-up is taken first). While a peer is attached, another connection is closed at
/// once and counted (`protocolErrors`): nobody else in the socket's group can take the VM's
/// place. A peer that sends a length of 0 or over QEMU's own limit (69,632) is disconnected
/// and counted; a frame within that limit but larger than the switch takes is dropped and
/// counted as malformed, and the peer stays connected (a guest with a large MTU is not cut off). Output is buffered and flushed once per loop round (one `write` for many
/// frames); when the buffer is full, frames are dropped as congested rather than blocking.
/// Buffers exist only while a peer is connected: a host with hundreds of stopped VMs does not
/// hold a megabyte for each.
public final class StreamSocketPort: IOPort, Flushable {
    public let path: String
    private var listener: Int32
    private var connection: Int32 = -1
    private var framer = LengthPrefixedFramer(maximumFrameSize: LengthPrefixedFramer.qemuMaximumFrameSize)
    private var output: [UInt8]
    private var outputStart = 0
    private var outputEnd = 0
    private var flushScheduled = false
    private var waitingForWritable = false
    static let outputCapacity = 1 << 20
    static let readBudgetBytes = 64 << 10

    public init(id: PortID, loop: EventLoop, path: String) throws(SystemError) {
        self.path = path
        listener = Int32(try Syscall.helper("listen on \(path)") { Int(vnetd_unix_listen(path, 4)) })
        output = []
        super.init(id: id, loop: loop, bufferSize: 0)
        chmod(path, 0o660)
        try loop.adopt(listener, Listener(port: self))
    }

    public override var endpoint: String { path }
    public var isConnected: Bool { connection >= 0 }

    /// The listening socket has its own handler, so the two descriptors can be told apart.
    private final class Listener: IOHandler {
        unowned let port: StreamSocketPort
        init(port: StreamSocketPort) { self.port = port }
        func handle(events: UInt32) { port.acceptPeers() }
        var owner: AnyObject { port }
    }

    func acceptPeers() {
        acceptPeers(on: listener, isAttached: { connection >= 0 }, takeHangUp: {
            // Read what the peer that went sent before it went (bounded), then let it go.
            var drains = 0
            while connection >= 0 && drains < 16 && vnetd_peer_hung_up(connection) != 0 {
                handle(events: EPOLLIN.rawValue | EPOLLRDHUP.rawValue)
                drains += 1
            }
        }, attach: { fd in
            connection = fd
            framer = LengthPrefixedFramer(maximumFrameSize: LengthPrefixedFramer.qemuMaximumFrameSize)
            if output.isEmpty { output = [UInt8](repeating: 0, count: Self.outputCapacity) }
            outputStart = 0
            outputEnd = 0
            do {
                try loop.register(fd, self, events: EPOLLIN.rawValue | EPOLLRDHUP.rawValue)
                state = .attached
            } catch {
                Syscall.close(fd)
                connection = -1
            }
        })
    }

    public override func handle(events: UInt32) {
        guard connection >= 0 else { return }
        // A peer that hung up or failed is never written to again: read what it sent before it
        // went (the read below ends in end-of-stream and disconnects), flush nothing.
        let gone = events & (EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0
        if !gone && events & EPOLLOUT.rawValue != 0 { flushOutput() }
        guard events & (EPOLLIN.rawValue | EPOLLHUP.rawValue | EPOLLRDHUP.rawValue | EPOLLERR.rawValue) != 0 else { return }
        // A budget per readiness event, like NAPI's: a peer that never stops sending (a
        // broadcast storm) gets its turn and then waits for the next round, so every other port
        // on this thread is served within a few milliseconds.
        var budget = Self.readBudgetBytes
        while budget > 0 {
            let fd = connection
            let count = framer.write { space in read(fd, space.baseAddress, min(space.count, budget)) }
            if count > 0 {
                budget -= count
                do {
                    try framer.drain { ingest($0) }
                } catch {
                    protocolErrors &+= 1
                    disconnect()
                    return
                }
                continue
            }
            if count < 0 && errno == EINTR { continue }
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
            disconnect()  // end of stream or error: the VM went away
            return
        }
    }

    public override func send(_ frame: UnsafeRawBufferPointer, offload: OffloadInfo) -> SendResult {
        guard offload.isPlain else { return .dropped(.needsOffload) }
        guard connection >= 0 else { return .dropped(.notAttached) }
        let needed = frame.count + 4
        if outputEnd + needed > output.count {
            compactOutput()
            guard outputEnd + needed <= output.count else { return .dropped(.congested) }
        }
        let prefix = LengthPrefixedFramer.prefix(frame.count)
        output.withUnsafeMutableBytes { bytes in
            bytes[outputEnd] = prefix.0
            bytes[outputEnd + 1] = prefix.1
            bytes[outputEnd + 2] = prefix.2
            bytes[outputEnd + 3] = prefix.3
            if let base = bytes.baseAddress, let source = frame.baseAddress {
                (base + outputEnd + 4).copyMemory(from: source, byteCount: frame.count)
            }
        }
        outputEnd += needed
        if !flushScheduled && !waitingForWritable {
            flushScheduled = true
            loop.markDirty(self)
        }
        return .sent
    }

    public func flushOutput() {
        flushScheduled = false
        guard connection >= 0 else { return }
        while outputStart < outputEnd {
            let fd = connection, start = outputStart, end = outputEnd
            // MSG_NOSIGNAL: a VM that exits with frames queued for it is an EPIPE to handle here,
            // never a SIGPIPE that ends vnetd.
            let count = output.withUnsafeBytes { bytes -> Int in
                guard let base = bytes.baseAddress else { return 0 }
                return Glibc.send(fd, base + start, end - start, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
            }
            if count > 0 {
                outputStart += count
                continue
            }
            if count < 0 && errno == EINTR { continue }
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                if !waitingForWritable {
                    waitingForWritable = true
                    loop.modify(connection, events: EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLOUT.rawValue)
                }
                return
            }
            disconnect()
            return
        }
        outputStart = 0
        outputEnd = 0
        if waitingForWritable {
            waitingForWritable = false
            loop.modify(connection, events: EPOLLIN.rawValue | EPOLLRDHUP.rawValue)
        }
    }

    private func compactOutput() {
        guard outputStart > 0 else { return }
        let count = outputEnd - outputStart, start = outputStart
        output.withUnsafeMutableBytes { bytes in
            if let base = bytes.baseAddress { base.copyMemory(from: base + start, byteCount: count) }
        }
        outputStart = 0
        outputEnd = count
    }

    private func disconnect() {
        guard connection >= 0 else { return }
        loop.unregister(connection)
        Syscall.close(connection)
        connection = -1
        waitingForWritable = false
        outputStart = 0
        outputEnd = 0
        output = []
        framer.releaseStorage()
        state = .waiting
    }

    public override func close() {
        disconnect()
        if listener >= 0 {
            loop.unregister(listener)
            Syscall.close(listener)
            listener = -1
            unlink(path)
        }
    }
}
