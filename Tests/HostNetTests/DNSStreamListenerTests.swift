import Foundation
import Logging
import Packets
import Synchronization
import Testing
@testable import HostNet

#if canImport(Glibc)
import Glibc
#endif

/// DNS over TCP on loopback: a peer the server refuses never holds a connection, and bytes that
/// trickle in do not keep one open past its deadline for a whole message.
@Suite("DNS over TCP listener: admission and message deadline", .serialized)
struct DNSStreamListenerTests {
    final class Held: @unchecked Sendable {
        var listener: DNSStreamListener?
        var messages = 0
    }

    /// A listener on 127.0.0.1 at a free port, made on the loop's thread.
    func listen(on loop: EventLoop, idleTimeout: Int64, admits: @escaping @Sendable (SocketAddress) -> Bool) throws -> (Held, UInt16) {
        let held = Held()
        for _ in 0..<20 {
            let port = UInt16.random(in: 20_000...60_000)
            let made = Mutex(false)
            loop.post {
                guard let listener = try? DNSStreamListener(loop: loop, bindTo: .v4(IPv4Address(127, 0, 0, 1), port: port), freeBind: false,
                                                            idleTimeout: idleTimeout) else { return }
                listener.admits = admits
                listener.onMessage = { _, _, _ in held.messages += 1 }
                held.listener = listener
                made.withLock { $0 = true }
            }
            loop.settle()
            if made.withLock({ $0 }) { return (held, port) }
        }
        throw SystemError("no free port", EADDRINUSE)
    }

    func connectClient(_ port: UInt16) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(result == 0, "connected")
        return fd
    }

    /// True when the server has closed the connection (end of stream or reset), without waiting.
    func isClosed(_ fd: Int32) -> Bool {
        var byte: UInt8 = 0
        let count = recv(fd, &byte, 1, Int32(MSG_DONTWAIT))
        return count == 0 || (count < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
    }

    @Test func aRefusedPeerIsClosedAtAcceptAndTakesNoSlot() throws {
        let loop = try EventLoop(logger: Logger(label: "test"))
        loop.start(name: "dns-tcp-test")
        defer { loop.stop() }
        let (held, port) = try listen(on: loop, idleTimeout: 10_000) { _ in false }
        let fd = try connectClient(port)
        defer { close(fd) }
        var closed = false
        for _ in 0..<40 where !closed {
            usleep(50_000)
            closed = isClosed(fd)
        }
        #expect(closed, "closed at once, not after the 10 s idle time")
        let counts = Mutex((0, 0, UInt64(0)))
        loop.post { counts.withLock { $0 = (held.listener?.connections.count ?? -1, held.messages, held.listener?.refusedPeers ?? 0) } }
        loop.settle()
        #expect(counts.withLock { $0 } == (0, 0, 1))
        loop.post { held.listener?.close() }
        loop.settle()
    }

    @Test func bytesThatTrickleInDoNotExtendTheDeadlineForAWholeMessage() throws {
        let loop = try EventLoop(logger: Logger(label: "test"))
        loop.start(name: "dns-tcp-test")
        defer { loop.stop() }
        let (held, port) = try listen(on: loop, idleTimeout: 500) { _ in true }
        let fd = try connectClient(port)
        defer { close(fd) }
        // A 64-byte message announced, then one byte every 100 ms: it would take 6.4 s.
        var header: [UInt8] = [0, 64]
        _ = send(fd, &header, 2, Int32(MSG_NOSIGNAL))
        let start = Date()
        var closed = false
        while !closed, Date().timeIntervalSince(start) < 3 {
            usleep(100_000)
            var byte: UInt8 = 0x41
            _ = send(fd, &byte, 1, Int32(MSG_NOSIGNAL))
            closed = isClosed(fd)
        }
        #expect(closed, "closed within 3 s although a byte came every 100 ms (deadline 0.5 s)")
        loop.post { held.listener?.close() }
        loop.settle()
    }
}
