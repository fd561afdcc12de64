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
public final class TAPPort: IOPort {
    public let interfaceName: String
    private var fd: Int32
    /// Frames read per wake-up before other ports get a turn.
    static let readBudget = 64

    public init(id: PortID, loop: EventLoop, interfaceName: String) throws(SystemError) {
        self.interfaceName = interfaceName
        fd = Int32(try Syscall.helper("open TAP \(interfaceName)") { Int(vnetd_tap_open(interfaceName, 0)) })
        super.init(id: id, loop: loop)
        _ = vnetd_interface_up(interfaceName)
        do {
            try loop.register(fd, self)
        } catch {
            Syscall.close(fd)
            throw error
        }
        state = .attached
    }

    public override var endpoint: String { interfaceName }

    public override func handle(events: UInt32) {
        guard fd >= 0 else { return }
        for _ in 0..<Self.readBudget {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count > 0 {
                buffer.withUnsafeBytes { ingest(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
                continue
            }
            if count < 0 && errno == EINTR { continue }
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
            lose(count == 0 ? 0 : errno)
            return
        }
    }

    public override func send(_ frame: UnsafeRawBufferPointer) -> SendResult {
        guard fd >= 0 else { return .dropped(.notAttached) }
        while true {
            let count = write(fd, frame.baseAddress, frame.count)
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
    /// Gives the interface the VM adapter's MAC address, so a namespace using it needs no setup.
    public func setAddress(_ octets: [UInt8]) {
        guard octets.count == 6 else { return }
        _ = octets.withUnsafeBufferPointer { vnetd_interface_set_mac(interfaceName, $0.baseAddress) }
    }
}
