import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// One TCP connection to 127.0.0.1 that sends exactly what it is given, in as many pieces as the
/// test wants, and reads until the server closes. Writes use `send(..., MSG_NOSIGNAL)`: a server
/// that hangs up early gives an error, never SIGPIPE.
public final class RawConnection: @unchecked Sendable {
    public let fd: Int32

    public init(port: UInt16, timeoutSeconds: Int = 10) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HTTPTestClient.ClientError(description: "socket failed") }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            Glibc.close(fd)
            throw HTTPTestClient.ClientError(description: "connect failed: \(errno)")
        }
    }

    /// Sends everything; false when the server has closed its side.
    @discardableResult
    public func send(_ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if count <= 0 { return false }
            sent += count
        }
        return true
    }

    @discardableResult
    public func send(_ text: String) -> Bool { send(Array(text.utf8)) }

    /// Everything the server sends until it closes (or the read times out or fails).
    public func readToEnd() -> [UInt8] {
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            response.append(contentsOf: buffer[0..<count])
        }
        return response
    }

    /// Everything the server sends, and how the reading ended: nil for an orderly close by the
    /// server, otherwise the errno (ECONNRESET for a reset, EAGAIN for the read timeout).
    public func readUntilClosed() -> (bytes: [UInt8], error: Int32?) {
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count == 0 { return (response, nil) }
            if count < 0 { return (response, errno) }
            response.append(contentsOf: buffer[0..<count])
        }
    }

    public func readReply() throws -> HTTPTestClient.Reply {
        try HTTPTestClient.parse(readToEnd())
    }

    /// Sends `request` on a new connection and parses the reply.
    public static func exchange(port: UInt16, _ request: String) throws -> HTTPTestClient.Reply {
        let connection = try RawConnection(port: port)
        connection.send(request)
        return try connection.readReply()
    }

    deinit { Glibc.close(fd) }
}
