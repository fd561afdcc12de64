import CLinuxNet
import Foundation
import Packets

#if canImport(Glibc)
import Glibc
#endif

/// An IPv4 or IPv6 address with a port, as the kernel's sockaddr carries it.
public enum SocketAddress: Hashable, Sendable, CustomStringConvertible {
    case v4(IPv4Address, port: UInt16)
    case v6(IPv6Address, port: UInt16)

    public var port: UInt16 {
        switch self {
        case .v4(_, let port), .v6(_, let port): port
        }
    }

    public var description: String {
        switch self {
        case .v4(let address, let port): "\(address):\(port)"
        case .v6(let address, let port): "[\(address)]:\(port)"
        }
    }

    public enum Family: Hashable, Sendable {
        case v4, v6
        public var rawValue: Int32 { self == .v4 ? AF_INET : AF_INET6 }
    }

    public var family: Family {
        switch self {
        case .v4: .v4
        case .v6: .v6
        }
    }

    /// Calls `body` with the address as a sockaddr and its length.
    func withSockaddr<T>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
        switch self {
        case .v4(let address, let port):
            var raw = sockaddr_in()
            raw.sin_family = sa_family_t(AF_INET)
            raw.sin_port = port.bigEndian
            raw.sin_addr.s_addr = address.value.bigEndian
            return withUnsafePointer(to: &raw) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        case .v6(let address, let port):
            var raw = sockaddr_in6()
            raw.sin6_family = sa_family_t(AF_INET6)
            raw.sin6_port = port.bigEndian
            withUnsafeMutableBytes(of: &raw.sin6_addr) { bytes in
                for (index, byte) in address.bytes.enumerated() { bytes[index] = byte }
            }
            return withUnsafePointer(to: &raw) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        }
    }

    /// The address in a sockaddr_storage the kernel filled in; nil for another family.
    init?(storage: UnsafeRawPointer) {
        let family = Int32(storage.load(as: sockaddr.self).sa_family)
        if family == AF_INET {
            let raw = storage.load(as: sockaddr_in.self)
            self = .v4(IPv4Address(value: UInt32(bigEndian: raw.sin_addr.s_addr)), port: UInt16(bigEndian: raw.sin_port))
        } else if family == AF_INET6 {
            var raw = storage.load(as: sockaddr_in6.self)
            let bytes = withUnsafeBytes(of: &raw.sin6_addr) { Array($0) }
            guard let address = IPv6Address(bytes: bytes) else { return nil }
            self = .v6(address, port: UInt16(bigEndian: raw.sin6_port))
        } else {
            return nil
        }
    }
}

enum InternetSocket {
    /// A non-blocking socket bound to `address`. `freeBind` allows an address no interface has
    /// yet (the host interface gets its address a moment later, or again after a restart).
    /// `device`: SO_BINDTODEVICE, so only what arrives on that interface reaches the socket
    /// (Linux 5.7 and later allow it without CAP_NET_RAW on a socket not yet bound to a device).
    static func open(type: Int32, bindTo address: SocketAddress?, freeBind: Bool, family: Int32? = nil, device: String? = nil) throws(SystemError) -> Int32 {
        let domain = address?.family.rawValue ?? family ?? AF_INET
        let fd = Int32(try Syscall.check("socket") { Int(socket(domain, type | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)) })
        var one: Int32 = 1
        if let device {
            let result = device.withCString { setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, $0, socklen_t(strlen($0) + 1)) }
            if result != 0 {
                let code = errno
                Syscall.close(fd)
                throw SystemError("SO_BINDTODEVICE \(device)", code)
            }
        }
        if freeBind {
            // IPV6_FREEBIND (78, Linux 4.15) for IPv6 sockets, IP_FREEBIND for IPv4 ones.
            if domain == AF_INET6 { setsockopt(fd, Int32(IPPROTO_IPV6), 78, &one, socklen_t(MemoryLayout<Int32>.size)) }
            else { setsockopt(fd, Int32(IPPROTO_IP), IP_FREEBIND, &one, socklen_t(MemoryLayout<Int32>.size)) }
        }
        if type == Int32(SOCK_STREAM.rawValue) { setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size)) }
        if domain == AF_INET6 { setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size)) }
        if let address {
            do {
                try Syscall.check("bind \(address)") { Int(address.withSockaddr { bind(fd, $0, $1) }) }
            } catch {
                Syscall.close(fd)
                throw error
            }
        }
        return fd
    }
}

/// A UDP socket on the loop: every datagram goes to `onDatagram` (bytes valid only during the
/// call), and `send` never blocks (a full socket buffer drops the datagram and counts it).
public final class UDPSocket: IOHandler {
    public private(set) var fd: Int32
    public let loop: EventLoop
    public var onDatagram: (UnsafeRawBufferPointer, SocketAddress) -> Void = { _, _ in }
    public private(set) var sendFailures: UInt64 = 0
    private var buffer = [UInt8](repeating: 0, count: 65_536)
    private var storage = sockaddr_storage()

    /// Bound to `address`, or to port 0 of the family's any-address (the kernel picks a random
    /// port); to `device` when given (see `InternetSocket.open`).
    public init(loop: EventLoop, bindTo address: SocketAddress?, family: Int32 = AF_INET, freeBind: Bool = false, device: String? = nil) throws(SystemError) {
        self.loop = loop
        let any: SocketAddress = family == AF_INET6 ? .v6(.unspecified, port: 0) : .v4(.any, port: 0)
        fd = try InternetSocket.open(type: Int32(SOCK_DGRAM.rawValue), bindTo: address ?? any, freeBind: freeBind, device: device)
        try loop.adopt(fd, self)
    }

    /// Connects the socket to `peer`: the kernel then hands it only datagrams from that address
    /// and port. False when the kernel refuses.
    public func connect(to peer: SocketAddress) -> Bool {
        guard fd >= 0 else { return false }
        return peer.withSockaddr { Glibc.connect(fd, $0, $1) } == 0
    }

    public func handle(events: UInt32) {
        for _ in 0..<64 {
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let count = buffer.withUnsafeMutableBytes { bytes in
                withUnsafeMutablePointer(to: &storage) { pointer in
                    pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, bytes.baseAddress, bytes.count, 0, $0, &length) }
                }
            }
            if count < 0 {
                if errno == EINTR { continue }
                return
            }
            guard let source = withUnsafePointer(to: &storage, { SocketAddress(storage: UnsafeRawPointer($0)) }) else { continue }
            buffer.withUnsafeBytes { onDatagram(UnsafeRawBufferPointer(rebasing: $0[0..<count]), source) }
        }
    }

    public func send(_ bytes: [UInt8], to address: SocketAddress) {
        let sent = bytes.withUnsafeBytes { payload in
            address.withSockaddr { sendto(fd, payload.baseAddress, payload.count, Int32(MSG_DONTWAIT), $0, $1) }
        }
        if sent < 0 { sendFailures &+= 1 }
    }

    /// The port the kernel bound, for sockets bound to port 0.
    public var localPort: UInt16 {
        var local = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return withUnsafePointer(to: &local) { SocketAddress(storage: UnsafeRawPointer($0))?.port ?? 0 }
    }

    public func close() {
        guard fd >= 0 else { return }
        loop.unregister(fd)
        Syscall.close(fd)
        fd = -1
    }
}

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
