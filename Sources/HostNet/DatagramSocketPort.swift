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
/// Batched both ways: a wake-up reads up to 32 datagrams per `recvmmsg` into its loop's batch
/// (shared by the loop's datagram ports, which run one at a time), and frames for the peer are
/// queued and leave at the end of the loop round in one `sendmmsg`. A frame the kernel refuses
/// then is counted as a drop after all (`countLateDrops`).
public final class DatagramSocketPort: IOPort, Flushable {
    public let path: String
    private var fd: Int32
    private var peer: [CChar] = [CChar](repeating: 0, count: 128)
    private var scratch: [CChar] = [CChar](repeating: 0, count: 128)
    private var hasPeer = false
    /// Queued frames, back to back, with where each starts and its length.
    private var outgoing: [UInt8] = []
    private var offsets: [Int] = []
    private var lengths: [Int] = []
    static let queueBytes = 256 * 1024, queueFrames = 64
    /// Reads per wake-up, in batches, before other ports get a turn.
    static let readBudget = 4

    public init(id: PortID, loop: EventLoop, path: String) throws(SystemError) {
        self.path = path
        fd = Int32(try Syscall.helper("bind \(path)") { Int(vnetd_unix_datagram(path)) })
        super.init(id: id, loop: loop, bufferSize: 0)
        outgoing.reserveCapacity(Self.queueBytes)
        offsets.reserveCapacity(Self.queueFrames)
        lengths.reserveCapacity(Self.queueFrames)
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
        guard hasPeer, fd >= 0 else { return .dropped(.notAttached) }
        if offsets.count == Self.queueFrames || outgoing.count + frame.count > Self.queueBytes {
            flushOutput()
            guard hasPeer else { return .dropped(.notAttached) }
        }
        guard outgoing.count + frame.count <= Self.queueBytes else { return .dropped(.congested) }
        if offsets.isEmpty { loop.markDirty(self) }
        offsets.append(outgoing.count)
        lengths.append(frame.count)
        outgoing.append(contentsOf: frame)
        return .sent
    }

    public func flushOutput() {
        guard !offsets.isEmpty else { return }
        defer {
            outgoing.removeAll(keepingCapacity: true)
            offsets.removeAll(keepingCapacity: true)
            lengths.removeAll(keepingCapacity: true)
        }
        guard fd >= 0, hasPeer else { return lateDrops(from: 0, .notAttached) }
        let sent = outgoing.withUnsafeBufferPointer { bytes in
            offsets.withUnsafeBufferPointer { starts in
                lengths.withUnsafeBufferPointer { sizes in
                    peer.withUnsafeBufferPointer { name in
                        vnetd_dgram_send_batch(fd, bytes.baseAddress, starts.baseAddress, sizes.baseAddress, Int32(starts.count), name.baseAddress)
                    }
                }
            }
        }
        if sent >= offsets.count { return }
        guard sent < 0 else { return lateDrops(from: sent, .congested) }
        switch Int32(-sent) {
        case EAGAIN, EWOULDBLOCK, ENOBUFS: lateDrops(from: 0, .congested)
        case ECONNREFUSED, ENOENT:
            hasPeer = false
            state = .waiting
            lateDrops(from: 0, .notAttached)
        default: lateDrops(from: 0, .failed)
        }
    }

    private func lateDrops(from first: Int, _ reason: DropReason) {
        guard first < lengths.count else { return }
        fabric?.countLateDrops(reason, to: id, frames: lengths.count - first, bytes: lengths[first...].reduce(0, +))
    }

    public override func close() {
        guard fd >= 0 else { return }
        outgoing.removeAll()
        offsets.removeAll()
        lengths.removeAll()
        loop.unregister(fd)
        Syscall.close(fd)
        fd = -1
        unlink(path)
    }
}
