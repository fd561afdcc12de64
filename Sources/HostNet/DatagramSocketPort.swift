import CLinuxNet
import Switching

#if canImport(Glibc)
import Glibc
#endif

/// A unix datagram socket for QEMU's `-netdev dgram`: one frame per datagram, no length prefix.
/// vnetd binds `path`; QEMU binds its own path and sends from it, and vnetd answers to the
/// address the last datagram came from. A datagram larger than any frame the switch takes is
/// dropped whole and counted as malformed, never forwarded cut short.
///
/// Read in batches: a wake-up takes up to 32 datagrams per `recvmmsg` into its loop's batch
/// (shared by the loop's datagram ports, which run one at a time). Frames for the peer leave one
/// `sendto` each: batched with `sendmmsg` at the end of the round they measured slower, since the
/// kernel queues only `net.unix.max_dgram_qlen` (10) datagrams per socket and a burst overflows it
/// (bench/RESULTS.md).
public final class DatagramSocketPort: IOPort {
    public let path: String
    private var fd: Int32
    private var peer: [CChar] = [CChar](repeating: 0, count: 128)
    private var scratch: [CChar] = [CChar](repeating: 0, count: 128)
    private var hasPeer = false
    /// Reads per wake-up, in batches, before other ports get a turn.
    static let readBudget = 4

    public init(id: PortID, loop: EventLoop, path: String) throws(SystemError) {
        self.path = path
        fd = Int32(try Syscall.helper("bind \(path)") { Int(vnetd_unix_datagram(path)) })
        super.init(id: id, loop: loop, bufferSize: 0)
        chmod(path, 0o660)
        try loop.adopt(fd, self)
    }

    public override var endpoint: String { path }

    public override func handle(events: UInt32) {
        let batch = loop.datagramBatch
        for _ in 0..<Self.readBudget {
            let count = Int(vnetd_dgram_batch_receive(fd, batch.pointer))
            if count < 0 {
                if Int32(-count) == EINTR { continue }
                return
            }
            for index in 0..<count {
                scratch.withUnsafeMutableBufferPointer { vnetd_dgram_batch_peer(batch.pointer, Int32(index), $0.baseAddress, $0.count) }
                if scratch[0] != 0 && scratch != peer {
                    peer = scratch
                    hasPeer = true
                    state = .attached
                }
                let length = vnetd_dgram_batch_length(batch.pointer, Int32(index))
                guard length <= batch.slotSize, let data = vnetd_dgram_batch_data(batch.pointer, Int32(index)) else {
                    dropOversized(bytes: length)
                    continue
                }
                ingest(UnsafeRawBufferPointer(start: data, count: length))
            }
            if count < batch.count { return }
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
