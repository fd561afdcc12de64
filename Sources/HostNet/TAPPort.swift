import CLinuxNet
import Switching

#if canImport(Glibc)
import Glibc
#endif

/// A TAP interface whose descriptor vnetd holds; the interface side can be moved into a network
/// namespace, which then acts as the VM.
///
/// Kernel behaviour handled here: the TAP is created and opened before anyone can move it, so
/// the descriptor keeps working after the move (opening by name afterwards would create an
/// unrelated TAP); writing while the interface is down fails with EIO (dropped as "nothing
/// attached"); deleting the namespace destroys the interface, after which the descriptor fails
/// with EBADFD while epoll keeps reporting it readable, so the port closes it at once and says so
/// instead of spinning. The interface is not persistent: it disappears when vnetd closes the
/// descriptor, also after a crash.
///
/// Every frame crosses the descriptor with a 10-byte virtio-net header (IFF_VNET_HDR), with
/// offloads on: the kernel hands over whole TCP segments of up to 64 KiB with their checksum
/// left to the receiver, and the switch passes header and segment to the other TAPs unchanged
/// (one read and one write move dozens of wire frames), finishing them only for ports that
/// cannot take them.
public final class TAPPort: IOPort {
    public let interfaceName: String
    fileprivate var fd: Int32
    private var vectors = [iovec](repeating: iovec(), count: 2)
    /// Sent in front of frames that came without a header (from sockets or the uplink).
    private let zeroHeader: UnsafeMutableRawPointer = {
        let header = UnsafeMutableRawPointer.allocate(byteCount: OffloadInfo.headerSize, alignment: 8)
        header.initializeMemory(as: UInt8.self, repeating: 0, count: OffloadInfo.headerSize)
        return header
    }()

    deinit {
        zeroHeader.deallocate()
    }
    /// The largest plain frame the interface takes: its MTU plus an Ethernet header and one 802.1Q
    /// tag, as a Linux bridge allows. Frames up to 1,518 bytes are never checked (an MTU lowered
    /// below 1,500 inside a namespace is that namespace's to enforce). A larger one is judged by
    /// the MTU last read, and asks for the MTU to be read again through the descriptor (rtnetlink
    /// calls), at most once a second and after the current round, never inside `send`: the
    /// namespace that holds the interface may change it at any time.
    private var largestFrame = TAPPort.standardFrame
    private var largestFrameReadAt: Int64 = 0
    private var mtuReadPending = false
    static let standardFrame = 1_518

    /// Frames read per wake-up before other ports get a turn.
    static let readBudget = 64

    public init(id: PortID, loop: EventLoop, interfaceName: String) throws(SystemError) {
        self.interfaceName = interfaceName
        fd = Int32(try Syscall.helper("open TAP \(interfaceName)") { Int(vnetd_tap_open(interfaceName, 1)) })
        super.init(id: id, loop: loop, bufferSize: OffloadInfo.headerSize + 65_535 + 18 + 64)
        // Checksum-partial frames and whole TCP segments both ways, on every network: the switch
        // finishes them in software for ports that cannot take them.
        _ = vnetd_tap_set_offload(fd, vnetd_tap_offload_flags(), Int32(OffloadInfo.headerSize))
        _ = vnetd_interface_up(interfaceName)
        readMTU()
        try loop.adopt(fd, self)
        state = .attached
    }

    public override var endpoint: String { interfaceName }

    public override func handle(events: UInt32) {
        guard fd >= 0 else { return }
        for _ in 0..<Self.readBudget {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count > OffloadInfo.headerSize {
                buffer.withUnsafeBytes { bytes in
                    ingest(
                        UnsafeRawBufferPointer(rebasing: bytes[OffloadInfo.headerSize..<count]),
                        offload: OffloadInfo(header: UnsafeRawBufferPointer(rebasing: bytes[0..<OffloadInfo.headerSize])))
                }
                continue
            }
            if count > 0 { continue }  // a header without a frame: nothing to switch
            if count < 0 && errno == EINTR { continue }
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
            lose(count == 0 ? 0 : errno)
            return
        }
    }

    public override var handlesOffloads: Bool { true }

    public override func send(_ frame: UnsafeRawBufferPointer, offload: OffloadInfo) -> SendResult {
        guard fd >= 0, let base = frame.baseAddress else { return .dropped(.notAttached) }
        if frame.count > Self.standardFrame, !offload.isSegmentationOffload {
            askForMTU()
            if frame.count > largestFrame { return .dropped(.tooBig) }
        }
        while true {
            let count: Int
            if let header = offload.header, let start = header.baseAddress, start + OffloadInfo.headerSize == base {
                // Header and frame are contiguous in the ingress buffer: one plain write.
                count = write(fd, start, OffloadInfo.headerSize + frame.count)
            } else {
                vectors[0] = iovec(iov_base: UnsafeMutableRawPointer(mutating: offload.header?.baseAddress ?? UnsafeRawPointer(zeroHeader)), iov_len: OffloadInfo.headerSize)
                vectors[1] = iovec(iov_base: UnsafeMutableRawPointer(mutating: base), iov_len: frame.count)
                count = vectors.withUnsafeBufferPointer { writev(fd, $0.baseAddress, 2) }
            }
            if count >= 0 { return .sent }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK, ENOBUFS: return .dropped(.congested)
            case EIO: return .dropped(.notAttached)  // interface down
            case EBADFD, EBADF:
                lose(errno)
                return .dropped(.notAttached)
            default: return .dropped(.failed)
            }
        }
    }

    private func askForMTU() {
        guard !mtuReadPending, loop.now - largestFrameReadAt >= 1_000 else { return }
        mtuReadPending = true
        loop.runAfter(milliseconds: 0) { [weak self] in
            self?.mtuReadPending = false
            self?.readMTU()
        }
    }

    private func readMTU() {
        guard fd >= 0 else { return }
        largestFrameReadAt = loop.now
        let mtu = vnetd_tap_mtu(fd)
        // When the MTU cannot be read, the last one known stands.
        if mtu > 0 { largestFrame = Int(mtu) + 18 }
    }

    private func lose(_ error: Int32) {
        loop.unregister(fd)
        Syscall.close(fd)
        fd = -1
        state = .unavailable(error == EBADFD
            ? "The interface \(interfaceName) was destroyed (its network namespace was deleted). Save this adapter on its VM's page, or restart vnetd, to create it again."
            : "The interface \(interfaceName) failed (\(String(cString: strerror(error)))).")
    }

    public override func close() {
        guard fd >= 0 else { return }
        loop.unregister(fd)
        Syscall.close(fd)
        fd = -1
    }
}

extension TAPPort {
    /// Gives the interface the VM adapter's MAC address, so a namespace using it needs no setup,
    /// and keeps it in step when the adapter's address changes (through the descriptor, so it
    /// works after the interface moved into another namespace).
    @discardableResult
    public func setAddress(_ octets: [UInt8]) -> Bool {
        guard octets.count == 6, fd >= 0 else { return false }
        return octets.withUnsafeBufferPointer { vnetd_tap_set_mac(fd, $0.baseAddress) } == 0
    }
}
