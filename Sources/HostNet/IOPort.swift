import CLinuxNet
import Switching

#if canImport(Glibc)
import Glibc
#endif

/// What a port can tell the status pages about its backend.
public enum PortState: Sendable, Equatable {
    /// Ready, and a peer is attached (TAP present, QEMU connected, adapter up).
    case attached
    /// Ready, waiting for a peer (QEMU not connected yet).
    case waiting
    /// Could not be created or was lost; the text says why and what to do.
    case unavailable(String)
}

/// A switch port backed by a file descriptor, owned by the event loop's thread.
///
/// Ingress: the backend reads frames into its own reusable buffer and hands each to the switch
/// it currently belongs to (`fabric`), or drops it when the NIC is not connected. Egress: the
/// switch calls `send` (the `FrameSink` contract: never block, drop and say why).
/// Moving a NIC to another network only changes `fabric` (and `loop`, see `leaveLoop`); the descriptor stays open.
public class IOPort: FrameSink, IOHandler {
    public let id: PortID
    /// The loop serving the port's descriptors; another one after `joinLoop`.
    public private(set) var loop: EventLoop
    /// The switch this port belongs to now; nil while "Not connected".
    public var fabric: VirtualSwitch?
    public internal(set) var state: PortState = .waiting
    /// Frames that arrived while the port belonged to no switch.
    public internal(set) var unswitchedFrames: UInt64 = 0
    /// Peers disconnected for breaking the framing, or connections refused while a peer was attached.
    public internal(set) var protocolErrors: UInt64 = 0
    var buffer: [UInt8]
    private var inTransit: [EventLoop.Registration] = []

    init(id: PortID, loop: EventLoop, bufferSize: Int = 65_536 + 16) {
        self.id = id
        self.loop = loop
        buffer = [UInt8](repeating: 0, count: bufferSize)
    }

    @inline(__always)
    final func ingest(_ frame: UnsafeRawBufferPointer, offload: OffloadInfo = .none) {
        if let fabric {
            fabric.receive(frame, offload: offload, from: id, now: loop.now)
        } else {
            unswitchedFrames &+= 1
        }
    }

    /// A frame that did not fit the port's buffer arrived: counted on the port as malformed.
    final func dropOversized(bytes: Int) {
        if let fabric {
            fabric.countDrop(.malformed, from: id, bytes: bytes)
        } else {
            unswitchedFrames &+= 1
        }
    }

    /// A NIC moving to a network another loop serves: `leaveLoop` on the old loop's thread, then
    /// `joinLoop` on the new one's. The descriptors stay open (a QEMU peer stays connected);
    /// frames that arrive in between wait in the kernel.
    public final func leaveLoop() {
        inTransit = loop.release(self)
    }

    public final func joinLoop(_ next: EventLoop) throws(SystemError) {
        loop = next
        let registrations = inTransit
        inTransit = []
        try next.take(registrations)
    }

    public func send(_ frame: UnsafeRawBufferPointer, offload: OffloadInfo) -> SendResult { .dropped(.notAttached) }
    public var handlesOffloads: Bool { false }
    public func handle(events: UInt32) {}
    /// Releases the descriptor(s) and any file the port created.
    public func close() {}
    /// Where a VM attaches: a socket path or an interface name.
    public var endpoint: String { "" }

    /// One log line per attached peer for the connections refused meanwhile (`acceptPeers`).
    var refusalLogged = false

    /// The accept loop of a port that serves one peer at a time (a QEMU stream socket, a
    /// vhost-user socket). `takeHangUp` first lets a peer that already hung up go (a QEMU that
    /// exited or restarted has closed its end, but its hang-up may wait in the same batch of
    /// events as the new connection). While a peer is still attached, a newcomer (anyone in the
    /// socket's group) is closed and counted, never allowed to knock the VM off and take its
    /// traffic; otherwise `attach` gets the descriptor.
    func acceptPeers(on listener: Int32, isAttached: () -> Bool, takeHangUp: () -> Void, attach: (Int32) -> Void) {
        while true {
            let fd = vnetd_accept(listener)
            if fd < 0 {
                if -fd == EINTR || -fd == ECONNABORTED { continue }
                return
            }
            if isAttached() { takeHangUp() }
            if isAttached() {
                Syscall.close(fd)
                protocolErrors &+= 1
                if !refusalLogged {
                    refusalLogged = true
                    loop.logger.warning("connection refused: a VM is attached", metadata: ["socket": "\(endpoint)"])
                }
                continue
            }
            refusalLogged = false
            attach(fd)
        }
    }
}
