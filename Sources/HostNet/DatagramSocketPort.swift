import CLinuxNet
import Switching

#if canImport(Glibc)
import Glibc
#endif

/// A unix datagram socket for QEMU's `-netdev dgram`: one frame per datagram, no length prefix.
/// vnetd binds `path`; QEMU binds its own path and sends from it, and vnetd answers to the
/// address the last datagram came from. A datagram larger than any frame the switch takes is
/// dropped whole and counted as malformed, never forwarded cut short.
public final class DatagramSocketPort: IOPort {
    public let path: String
    private var fd: Int32
    private var peer: [CChar] = [CChar](repeating: 0, count: 128)
    private var scratch: [CChar] = [CChar](repeating: 0, count: 128)
    private var hasPeer = false

    public init(id: PortID, loop: EventLoop, path: String) throws(SystemError) {
        self.path = path
        fd = Int32(try Syscall.helper("bind \(path)") { Int(vnetd_unix_datagram(path)) })
        super.init(id: id, loop: loop)
        chmod(path, 0o660)
        try loop.adopt(fd, self)
    }

    public override var endpoint: String { path }

    public override func handle(events: UInt32) {
        for _ in 0..<64 {
            let count = buffer.withUnsafeMutableBytes { bytes in
                scratch.withUnsafeMutableBufferPointer { name in
                    vnetd_unix_recvfrom(fd, bytes.baseAddress, bytes.count, name.baseAddress, name.count)
                }
            }
            if count < 0 {
                if Int32(-count) == EINTR { continue }
                return
            }
            if scratch[0] != 0 && scratch != peer {
                peer = scratch
                hasPeer = true
                state = .attached
            }
            guard count <= buffer.count else {
                dropOversized(bytes: count)
                continue
            }
            buffer.withUnsafeBytes { ingest(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
        }
    }

    public override func send(_ frame: UnsafeRawBufferPointer, offload: OffloadInfo) -> SendResult {
        guard offload.isPlain else { return .dropped(.needsOffload) }
        guard hasPeer else { return .dropped(.notAttached) }
        let result = peer.withUnsafeBufferPointer { vnetd_unix_sendto(fd, frame.baseAddress, frame.count, $0.baseAddress) }
        if result >= 0 { return .sent }
        switch Int32(-result) {
        case EAGAIN, EWOULDBLOCK, ENOBUFS: return .dropped(.congested)
        case ECONNREFUSED, ENOENT:
            hasPeer = false
            state = .waiting
            return .dropped(.notAttached)
        default: return .dropped(.failed)
        }
    }

    public override func close() {
        guard fd >= 0 else { return }
        loop.unregister(fd)
        Syscall.close(fd)
        fd = -1
        unlink(path)
    }
}
