import Foundation
import Switching

#if canImport(Glibc)
import Glibc
#endif

/// Speaks QEMU's `-netdev stream` framing over a unix socket, as a QEMU VM would.
/// Used by one thread at a time (a test hands it to a writer thread and waits for it).
final class StreamPeer: @unchecked Sendable {
    private var fd: Int32
    /// Kept across exchanges: a read can end inside a frame that the next exchange completes.
    private var framer = LengthPrefixedFramer()

    init(path: String) throws {
        // CLOEXEC: a process another test spawns meanwhile must not inherit the connection and keep it
        // open after `close()` (vnetd would then still see this peer attached).
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.prefix(raw.count - 1).enumerated() { raw[index] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            let error = errno
            Glibc.close(fd)
            throw CommandFailure(description: "connect \(path): \(error)")
        }
        var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Writes all of `bytes` (blocking). MSG_NOSIGNAL: a vnetd that closed the connection is an
    /// error for the test to see, not a signal that ends the test run.
    func write(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent < 0 && errno == EINTR { continue }
            guard sent > 0 else { throw CommandFailure(description: "send failed: \(errno)") }
            offset += sent
        }
    }

    func send(_ frame: [UInt8]) throws {
        let prefix = LengthPrefixedFramer.prefix(frame.count)
        try write([prefix.0, prefix.1, prefix.2, prefix.3] + frame)
    }

    /// Sends `frame` every half second until a received frame satisfies `matches` (5 s at most).
    func exchange(_ frame: [UInt8], until matches: ([UInt8]) -> Bool) throws -> Bool {
        try receive(until: matches, resending: frame)
    }

    /// Reads frames until one satisfies `matches` (`seconds` at most), sending `frame`, when
    /// given, every half second meanwhile. False also when the other side hangs up.
    func receive(until matches: ([UInt8]) -> Bool, resending frame: [UInt8]? = nil, seconds: Double = 5) throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        var nextSend = Date.distantPast
        while Date() < deadline {
            if let frame, Date() >= nextSend {
                try send(frame)
                nextSend = Date().addingTimeInterval(0.5)
            }
            let count = framer.write { space in Glibc.read(fd, space.baseAddress, space.count) }
            if count == 0 { return false }
            var found = false
            try framer.drain { if matches(Array($0)) { found = true } }
            if found { return true }
        }
        return false
    }

    /// Sends frames with QEMU's length prefix, in writes of about 1 MiB.
    func send(_ frames: some Sequence<[UInt8]>) throws {
        var chunk: [UInt8] = []
        for frame in frames {
            let prefix = LengthPrefixedFramer.prefix(frame.count)
            chunk += [prefix.0, prefix.1, prefix.2, prefix.3] + frame
            if chunk.count > 1 << 20 {
                try write(chunk)
                chunk.removeAll(keepingCapacity: true)
            }
        }
        if !chunk.isEmpty { try write(chunk) }
    }

    /// Sends `frame` (again every half second, 5 s at most) until `other` receives it.
    func send(_ frame: [UInt8], reaching other: StreamPeer) throws -> Bool {
        for _ in 0..<10 {
            try send(frame)
            if try other.receive(until: { $0 == frame }, seconds: 0.5) { return true }
        }
        return false
    }

    /// True when the other side closes the connection within 2 s.
    func waitForClose() -> Bool {
        var byte: UInt8 = 0
        let deadline = Date().addingTimeInterval(2)
        while Date() < deadline {
            let count = read(fd, &byte, 1)
            if count == 0 { return true }
            if count < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR { return true }
        }
        return false
    }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    deinit { close() }
}
