import CLinuxNet
import Switching

#if canImport(Glibc)
import Glibc
#endif

/// The uplink of an external network: an AF_PACKET socket on the bound host adapter, in
/// promiscuous mode, that does not read back its own transmissions. Frames from the LAN enter
/// the switch here; frames for the LAN leave through the adapter.
///
/// When the adapter disappears or goes down, sends fail with ENETDOWN/ENXIO: the port closes and
/// says so; the dataplane retries every few seconds and re-attaches when the adapter is back.
public final class PacketSocketPort: IOPort {
    public let adapter: String
    private var fd: Int32

    public init(id: PortID, loop: EventLoop, adapter: String) throws(SystemError) {
        self.adapter = adapter
        fd = Int32(try Syscall.helper("open packet socket on \(adapter)") { Int(vnetd_packet_socket(adapter)) })
        super.init(id: id, loop: loop)
        try loop.adopt(fd, self)
        state = .attached
    }

    public override var endpoint: String { adapter }
    public var isOpen: Bool { fd >= 0 }

    public override func handle(events: UInt32) {
        guard fd >= 0 else { return }
        for _ in 0..<64 {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_TRUNC)) }
            if count > buffer.count {  // larger than any frame the switch takes: counted, not cut short
                dropOversized(bytes: count)
                continue
            }
            if count > 0 {
                buffer.withUnsafeBytes { ingest(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
                continue
            }
            if count < 0 && errno == EINTR { continue }
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
            if count < 0 { lose(errno) }
            return
        }
    }

    public override func send(_ frame: UnsafeRawBufferPointer, offload: OffloadInfo) -> SendResult {
        guard offload.isPlain else { return .dropped(.needsOffload) }
        guard fd >= 0 else { return .dropped(.notAttached) }
        while true {
            let count = Glibc.send(fd, frame.baseAddress, frame.count, Int32(MSG_DONTWAIT))
            if count >= 0 { return .sent }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK, ENOBUFS: return .dropped(.congested)
            case ENETDOWN, ENXIO, ENODEV:
                lose(errno)
                return .dropped(.notAttached)
            default: return .dropped(.failed)
            }
        }
    }

    private func lose(_ error: Int32) {
        close()
        state = .unavailable("The host adapter \(adapter) is down or gone (\(String(cString: strerror(error)))); vnetd re-attaches when it is back.")
    }

    public override func close() {
        guard fd >= 0 else { return }
        loop.unregister(fd)
        Syscall.close(fd)
        fd = -1
    }
}
