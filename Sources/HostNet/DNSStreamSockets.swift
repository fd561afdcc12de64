import CLinuxNet
import Foundation
import Packets

#if canImport(Glibc)
import Glibc
#endif

/// A TCP listener for DNS over TCP (RFC 7766): each message is preceded by its length, 2 bytes
/// big-endian. A connection's messages go to `onMessage` with a reply function; a connection
/// that sends a length of 0, does not complete a whole message within `idleTimeout` ms of the
/// last one (or of its start; bytes that trickle in do not extend it), or has more than 64 KiB
/// of replies waiting is closed. A peer `admits` refuses is closed at accept, before it takes one
/// of the `maximumConnections` slots; beyond those, connections are accepted and closed at once.
public final class DNSStreamListener: IOHandler {
    public private(set) var fd: Int32
    public let loop: EventLoop
    public var onMessage: (UnsafeRawBufferPointer, SocketAddress, DNSStreamConnection) -> Void = { _, _, _ in }
    /// Whether a peer may talk to the server at all; asked once, at accept.
    public var admits: (SocketAddress) -> Bool = { _ in true }
    public let maximumConnections: Int
    public let idleTimeout: Int64
    public private(set) var refusedConnections: UInt64 = 0
    /// Connections closed at accept because `admits` refused their peer.
    public private(set) var refusedPeers: UInt64 = 0
    var connections: [Int32: DNSStreamConnection] = [:]

    public init(loop: EventLoop, bindTo address: SocketAddress, freeBind: Bool, device: String? = nil, maximumConnections: Int = 64,
                idleTimeout: Int64 = 10_000) throws(SystemError) {
        self.loop = loop
        self.maximumConnections = maximumConnections
        self.idleTimeout = idleTimeout
        fd = try InternetSocket.open(type: Int32(SOCK_STREAM.rawValue), bindTo: address, freeBind: freeBind, device: device)
        do {
            try Syscall.check("listen") { Int(listen(fd, 32)) }
            try loop.adopt(fd, self)
        } catch {
            Syscall.close(fd)
            throw error
        }
    }

    public func handle(events: UInt32) {
        while true {
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let client = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { accept(fd, $0, &length) }
            }
            if client >= 0 {
                _ = fcntl(client, F_SETFL, fcntl(client, F_GETFL) | O_NONBLOCK)
                _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            }
            if client < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                return
            }
            guard let peer = withUnsafePointer(to: &storage, { SocketAddress(storage: UnsafeRawPointer($0)) }), admits(peer) else {
                refusedPeers &+= 1
                Syscall.close(client)
                continue
            }
            guard connections.count < maximumConnections else {
                refusedConnections &+= 1
                Syscall.close(client)
                continue
            }
            let connection = DNSStreamConnection(fd: client, peer: peer, listener: self)
            do {
                try loop.register(client, connection)
                connections[client] = connection
                connection.armIdleTimer()
            } catch {
                Syscall.close(client)
            }
        }
    }

    func closed(_ connection: DNSStreamConnection, fd: Int32) {
        connections[fd] = nil
    }

    public func close() {
        for connection in connections.values { connection.close() }
        guard fd >= 0 else { return }
        loop.unregister(fd)
        Syscall.close(fd)
        fd = -1
    }
}

public final class DNSStreamConnection: IOHandler {
    private var fd: Int32
    public let peer: SocketAddress
    unowned let listener: DNSStreamListener
    private var input: [UInt8] = []
    private var output: [UInt8] = []
    /// When the last whole message arrived (or the connection was accepted): the next one must be
    /// complete within the listener's `idleTimeout` of it.
    private var lastMessage: Int64 = 0
    static let maximumOutput = 65_537 * 2

    init(fd: Int32, peer: SocketAddress, listener: DNSStreamListener) {
        self.fd = fd
        self.peer = peer
        self.listener = listener
    }

    public var isOpen: Bool { fd >= 0 }

    func armIdleTimer() {
        lastMessage = Syscall.monotonicMilliseconds()
        watch()
    }

    private func watch() {
        let due = lastMessage + listener.idleTimeout
        listener.loop.runAfter(milliseconds: max(1, due - Syscall.monotonicMilliseconds())) { [weak self] in
            guard let self, self.isOpen else { return }
            if Syscall.monotonicMilliseconds() - self.lastMessage >= self.listener.idleTimeout { self.close() } else { self.watch() }
        }
    }

    public func handle(events: UInt32) {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while isOpen {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count == 0 { return close() }
            if count < 0 {
                if errno == EINTR { continue }
                if errno != EAGAIN && errno != EWOULDBLOCK { close() }
                break
            }
            input += chunk[0..<count]
            // The length bounds what is kept: at most one message of 65,535 bytes and its prefix.
            while input.count >= 2 {
                let length = Int(input[0]) << 8 | Int(input[1])
                if length == 0 { return close() }
                guard input.count >= 2 + length else { break }
                let message = Array(input[2..<(2 + length)])
                input.removeFirst(2 + length)
                lastMessage = Syscall.monotonicMilliseconds()
                message.withUnsafeBytes { listener.onMessage($0, peer, self) }
                if !isOpen { return }
            }
        }
    }

    /// Queues one message (the length prefix is added here) and writes what the socket takes.
    public func reply(_ message: [UInt8]) {
        guard isOpen, message.count <= 65_535 else { return }
        guard output.count + message.count + 2 <= Self.maximumOutput else { return close() }
        output += [UInt8(message.count >> 8), UInt8(truncatingIfNeeded: message.count)] + message
        flush()
    }

    private func flush() {
        while isOpen, !output.isEmpty {
            let written = output.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT)) }
            if written < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK {
                    listener.loop.modify(fd, events: EPOLLIN.rawValue | EPOLLOUT.rawValue)
                    return
                }
                return close()
            }
            output.removeFirst(written)
        }
        if isOpen { listener.loop.modify(fd, events: EPOLLIN.rawValue) }
    }

    public func close() {
        guard fd >= 0 else { return }
        let old = fd
        listener.loop.unregister(fd)
        Syscall.close(fd)
        fd = -1
        listener.closed(self, fd: old)
    }
}

/// One DNS query over TCP to an upstream server (a truncated UDP answer's retry): connect, send
/// the length-prefixed query, read one length-prefixed answer, close. Gives up after `timeout` ms.
public final class DNSStreamExchange: IOHandler {
    private var fd: Int32 = -1
    private let loop: EventLoop
    private var output: [UInt8]
    private var input: [UInt8] = []
    private let done: ([UInt8]?) -> Void
    private var finished = false

    @discardableResult
    public init(loop: EventLoop, to server: SocketAddress, query: [UInt8], timeout: Int64 = 5000, done: @escaping ([UInt8]?) -> Void) {
        self.loop = loop
        self.done = done
        output = [UInt8(query.count >> 8), UInt8(truncatingIfNeeded: query.count)] + query
        guard query.count <= 65_535, let fd = try? InternetSocket.open(type: Int32(SOCK_STREAM.rawValue), bindTo: nil, freeBind: false, family: server.family.rawValue) else {
            finish(nil)
            return
        }
        self.fd = fd
        let result = server.withSockaddr { connect(fd, $0, $1) }
        guard result == 0 || errno == EINPROGRESS, (try? loop.register(fd, self, events: EPOLLOUT.rawValue | EPOLLIN.rawValue)) != nil else {
            finish(nil)
            return
        }
        loop.runAfter(milliseconds: timeout) { [self] in finish(nil) }
    }

    public func handle(events: UInt32) {
        if events & (EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0 && events & EPOLLIN.rawValue == 0 { return finish(nil) }
        if !output.isEmpty {
            let written = output.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT)) }
            if written < 0 && errno != EAGAIN && errno != EINTR { return finish(nil) }
            if written > 0 { output.removeFirst(written) }
            if output.isEmpty { loop.modify(fd, events: EPOLLIN.rawValue) }
        }
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while !finished {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count == 0 { return finish(nil) }
            if count < 0 {
                if errno == EINTR { continue }
                if errno != EAGAIN && errno != EWOULDBLOCK { finish(nil) }
                return
            }
            input += chunk[0..<count]
            if input.count >= 2 {
                let length = Int(input[0]) << 8 | Int(input[1])
                if input.count >= 2 + length { return finish(Array(input[2..<(2 + length)])) }
            }
        }
    }

    private func finish(_ answer: [UInt8]?) {
        guard !finished else { return }
        finished = true
        if fd >= 0 {
            loop.unregister(fd)
            Syscall.close(fd)
            fd = -1
        }
        done(answer)
    }
}
