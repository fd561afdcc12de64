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
