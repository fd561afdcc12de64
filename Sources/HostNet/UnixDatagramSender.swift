import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A unix datagram socket that sends to one fixed address: systemd's notification socket
/// (`NOTIFY_SOCKET`) and the journal's (`/run/systemd/journal/socket`). A path starting with `@`
/// names an abstract socket, as systemd writes them. Sends never block and never raise SIGPIPE;
/// one datagram is one message, so threads may send at the same time without a lock.
public final class UnixDatagramSender: Sendable {
    private let descriptor: Int32
    private let address: [UInt8]

    public init(path: String) throws(SystemError) {
        var bytes = Array(path.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: sockaddr_un().sun_path)
        guard !bytes.isEmpty, bytes.count <= capacity else { throw SystemError("socket address \(path)", ENAMETOOLONG) }
        address = bytes
        descriptor = Int32(try Syscall.check("socket") { Int(socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)) })
        // The journal reads large datagrams; the default send buffer would cut a long message.
        var size: Int32 = 8 << 20
        _ = setsockopt(descriptor, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Sends `message` as one datagram.
    public func send(_ message: [UInt8]) throws(SystemError) {
        var storage = sockaddr_un()
        storage.sun_family = sa_family_t(AF_UNIX)
        let offset = MemoryLayout<sockaddr_un>.offset(of: \.sun_path) ?? 2
        let length = socklen_t(offset + address.count + (address.first == 0 ? 0 : 1))
        withUnsafeMutableBytes(of: &storage.sun_path) { path in
            for (index, byte) in address.enumerated() { path[index] = byte }
        }
        let descriptor = descriptor
        try Syscall.check("sendto") {
            message.withUnsafeBytes { buffer in
                withUnsafePointer(to: &storage) { pointer in
                    pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                        sendto(descriptor, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT), socketAddress, length)
                    }
                }
            }
        }
    }

    deinit { Syscall.close(descriptor) }
}
