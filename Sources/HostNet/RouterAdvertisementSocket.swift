import CLinuxNet
import Foundation
import Packets

#if canImport(Glibc)
import Glibc
#endif

/// A raw ICMPv6 socket on one interface, for router advertisements (as radvd does): it sends to
/// ff02::1 with hop limit 255 from the interface's link-local address (the kernel picks it and
/// fills in the checksum), and hears only router solicitations (ICMP6_FILTER), having joined
/// ff02::2 there. Needs CAP_NET_RAW. Opening fails while the interface is missing.
public final class RouterAdvertisementSocket: IOHandler {
    public private(set) var fd: Int32
    public let loop: EventLoop
    public let interfaceIndex: UInt32
    public var onSolicitation: () -> Void = {}
    public private(set) var solicitations: UInt64 = 0
    public private(set) var sendFailures: UInt64 = 0
    private var buffer = [UInt8](repeating: 0, count: 2048)

    public init(loop: EventLoop, interface: String) throws(SystemError) {
        self.loop = loop
        interfaceName = interface
        let index = if_nametoindex(interface)
        guard index != 0 else { throw SystemError("if_nametoindex \(interface)", ENODEV) }
        interfaceIndex = index
        fd = Int32(try Syscall.check("socket(ICMPv6)") {
            Int(socket(AF_INET6, Int32(SOCK_RAW.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), Int32(IPPROTO_ICMPV6)))
        })
        do {
            try configure(interface: interface)
            try loop.adopt(fd, self)
        } catch {
            if fd >= 0 { Syscall.close(fd) }
            fd = -1
            throw error
        }
    }

    private func configure(interface: String) throws(SystemError) {
        let fd = self.fd
        var hops: Int32 = 255, off: Int32 = 0, index = Int32(interfaceIndex)
        let int32Size = socklen_t(MemoryLayout<Int32>.size)
        try Syscall.check("SO_BINDTODEVICE \(interface)") {
            Int(interface.withCString { setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, $0, socklen_t(strlen($0) + 1)) })
        }
        try Syscall.check("IPV6_MULTICAST_HOPS") { Int(setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_MULTICAST_HOPS, &hops, int32Size)) }
        try Syscall.check("IPV6_UNICAST_HOPS") { Int(setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_UNICAST_HOPS, &hops, int32Size)) }
        try Syscall.check("IPV6_MULTICAST_LOOP") { Int(setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_MULTICAST_LOOP, &off, int32Size)) }
        try Syscall.check("IPV6_MULTICAST_IF") { Int(setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_MULTICAST_IF, &index, int32Size)) }
        // ICMP6_FILTER (1): a set bit blocks a type; pass router solicitations only.
        var filter = [UInt32](repeating: 0xFFFF_FFFF, count: 8)
        filter[Int(ICMPv6.routerSolicitation) >> 5] &= ~(UInt32(1) << (UInt32(ICMPv6.routerSolicitation) & 31))
        try Syscall.check("ICMP6_FILTER") { Int(filter.withUnsafeBytes { setsockopt(fd, Int32(IPPROTO_ICMPV6), 1, $0.baseAddress, socklen_t($0.count)) }) }
        var request = ipv6_mreq()
        withUnsafeMutableBytes(of: &request.ipv6mr_multiaddr) { bytes in
            for (offset, byte) in IPv6Address.allRouters.bytes.enumerated() { bytes[offset] = byte }
        }
        request.ipv6mr_interface = interfaceIndex
        try Syscall.check("IPV6_ADD_MEMBERSHIP ff02::2") {
            Int(setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_ADD_MEMBERSHIP, &request, socklen_t(MemoryLayout<ipv6_mreq>.size)))
        }
    }

    public func handle(events: UInt32) {
        for _ in 0..<16 {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if count < 0 {
                if errno == EINTR { continue }
                return
            }
            let isSolicitation = buffer.withUnsafeBytes { NeighborDiscovery.isRouterSolicitation(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
            if isSolicitation {
                solicitations &+= 1
                onSolicitation()
            }
        }
    }

    private var boundToLinkLocal = false
    private let interfaceName: String

    /// Binds the socket to the interface's link-local address, once it has one that is no longer
    /// tentative (bind refuses a tentative address). Until then the kernel would pick the global
    /// address as source, and hosts discard a router advertisement not from a link-local address
    /// (RFC 4861 §6.1.2): seen in the tests as the first advertisements being ignored.
    private func bindLinkLocal() -> Bool {
        if boundToLinkLocal { return true }
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return false }
        defer { freeifaddrs(list) }
        var entry: UnsafeMutablePointer<ifaddrs>? = first
        while let current = entry {
            defer { entry = current.pointee.ifa_next }
            guard let address = current.pointee.ifa_addr, Int32(address.pointee.sa_family) == AF_INET6,
                String(cString: current.pointee.ifa_name) == interfaceName else { continue }
            var raw = UnsafeRawPointer(address).load(as: sockaddr_in6.self)
            let bytes = withUnsafeBytes(of: &raw.sin6_addr) { Array($0) }
            guard let v6 = IPv6Address(bytes: bytes), v6.isLinkLocal else { continue }
            raw.sin6_scope_id = interfaceIndex
            raw.sin6_port = 0
            let result = withUnsafePointer(to: &raw) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
            if result == 0 {
                boundToLinkLocal = true
                return true
            }
        }
        return false
    }

    /// Sends an ICMPv6 message (checksum zero) to every node on the link from the interface's
    /// link-local address; false when it failed or the interface has none yet.
    @discardableResult
    public func sendToAllNodes(_ message: [UInt8]) -> Bool {
        guard bindLinkLocal() else {
            sendFailures &+= 1
            return false
        }
        var destination = sockaddr_in6()
        destination.sin6_family = sa_family_t(AF_INET6)
        destination.sin6_scope_id = interfaceIndex
        withUnsafeMutableBytes(of: &destination.sin6_addr) { bytes in
            for (offset, byte) in IPv6Address.allNodes.bytes.enumerated() { bytes[offset] = byte }
        }
        let sent = message.withUnsafeBytes { payload in
            withUnsafePointer(to: &destination) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, payload.baseAddress, payload.count, Int32(MSG_DONTWAIT), $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        }
        if sent < 0 { sendFailures &+= 1 }
        return sent >= 0
    }

    public func close() {
        guard fd >= 0 else { return }
        loop.unregister(fd)
        Syscall.close(fd)
        fd = -1
    }
}
