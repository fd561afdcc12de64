import Packets

/// Identifies a port across all switches of one vnetd; stable while the port exists, so a port
/// moved to another switch keeps its id.
public struct PortID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(_ rawValue: UInt32) { self.rawValue = rawValue }
    public static func < (lhs: PortID, rhs: PortID) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { "port \(rawValue)" }
}

/// Why a frame was not delivered. Counted per port; shown on the network page.
public enum DropReason: Int, CaseIterable, Sendable {
    /// Shorter than an Ethernet header, or longer than the switch accepts.
    case malformed
    /// A multicast or broadcast source address: no station sends from one.
    case badSource
    /// The destination was learned on the port the frame came from.
    case sameSegment
    /// The port could not take the frame now (its queue is full, or the peer is slow).
    case congested
    /// The port has no peer attached, or its link is down.
    case notAttached
    /// The backend failed to send (an error other than congestion).
    case failed
    /// An offloaded frame for a port that cannot take it, which the switch cannot finish either
    /// (a segmentation type other than TCP, or more than 128 segments).
    case needsOffload
    /// IEEE 802.1D reserved destinations 01:80:C2:00:00:00–0F (STP BPDUs, LACP, 802.1X) and MAC
    /// control frames (PAUSE): a bridge never forwards them, or a VM could make the LAN switch
    /// shut the host's port.
    case linkLocal
    /// A VM port sent from a MAC address that is not its NIC's (and the NIC does not allow
    /// MAC address spoofing).
    case spoofedSource
    /// DHCP kept apart while the network's own server is on: a server reply from a VM or the LAN,
    /// or DHCP between the VMs and the LAN.
    case dhcpFiltered
    /// A frame from the LAN whose source is a VM's own (pinned) MAC: the host's copy of a VM's
    /// broadcast coming back through the adapter, or a loop in the LAN. Never switched, so a VM's
    /// frame is never delivered twice.
    case looped
    /// A plain frame larger than the receiving port's MTU allows (a LAN station with jumbo
    /// frames, a namespace that raised its MTU): a Linux bridge drops it at that port too.
    case tooBig
    /// Storm control (`StormLimits`): a port sent more broadcast, multicast or unknown-unicast
    /// frames per second than its network allows.
    case stormBroadcast
    case stormMulticast
    case stormUnknownUnicast

    public var label: String {
        switch self {
        case .malformed: "malformed"
        case .badSource: "bad source address"
        case .sameSegment: "destination on the same port"
        case .congested: "congested"
        case .notAttached: "nothing attached"
        case .failed: "send failed"
        case .needsOffload: "offloaded frame vnetd cannot finish"
        case .linkLocal: "link-local control frame (STP, LACP, PAUSE)"
        case .spoofedSource: "MAC spoofing"
        case .dhcpFiltered: "DHCP kept apart (built-in server on)"
        case .looped: "came back from the LAN with a VM's address (the host's copy, or a loop)"
        case .tooBig: "larger than the port's MTU"
        case .stormBroadcast: "storm control: broadcast over the limit"
        case .stormMulticast: "storm control: multicast over the limit"
        case .stormUnknownUnicast: "storm control: unknown unicast over the limit"
        }
    }
}

/// What a port stands for, which decides the checks its frames get.
public enum PortRole: Equatable, Sendable {
    /// No checks beyond the switch's own (tests, the fault harness).
    case plain
    /// A VM's network adapter: its MAC is pinned to the port; unless spoofing is allowed, every
    /// frame it sends must come from that MAC.
    case vm(mac: MACAddress, allowsSpoofing: Bool)
    /// The host adapter of an external network. `adapterMAC` is the host's own address there:
    /// pinned to the uplink, so frames from VMs to the host never flood the other VMs.
    case uplink(adapterMAC: MACAddress?)
    /// A service of vnetd's on the network (the DHCP server), with its own pinned MAC.
    case service(mac: MACAddress)
}

public enum SendResult: Equatable, Sendable {
    case sent
    case dropped(DropReason)
}

/// Something a switch delivers frames to: a TAP device, a QEMU socket, the host adapter, the
/// DHCP server, or an in-memory port in tests.
///
/// Contract:
/// - `send` borrows `frame` for the duration of the call only; a sink that keeps the bytes copies them;
/// - `send` never blocks: when the sink cannot take the frame now it returns
///   `.dropped(.congested)` and the switch counts the drop and moves on;
/// - `send` is called on the switch's I/O thread only.
public protocol FrameSink: AnyObject {
    func send(_ frame: UnsafeRawBufferPointer, offload: OffloadInfo) -> SendResult
    /// True when the sink can take frames whose checksum or segmentation is left to the
    /// receiver (a TAP or an uplink with a virtio-net header). For the others the switch finishes
    /// such frames in software.
    var handlesOffloads: Bool { get }
}

extension FrameSink {
    public var handlesOffloads: Bool { false }

    public func send(_ frame: UnsafeRawBufferPointer) -> SendResult {
        send(frame, offload: .none)
    }
}

/// The virtio-net header (10 bytes) a frame arrived with from a TAP that uses one, or none.
///
/// Offsets: flags (bit 0: the checksum is to be completed by the receiver), gso_type (0: not a
/// segmentation offload), hdr_len, gso_size, csum_start, csum_offset.
public struct OffloadInfo {
    public static let headerSize = 10
    /// Borrowed, like the frame: valid only during the call.
    public let header: UnsafeRawBufferPointer?

    public init(header: UnsafeRawBufferPointer?) {
        self.header = header
    }

    public static var none: OffloadInfo { OffloadInfo(header: nil) }

    /// The frame is one TCP segment of many for the receiver to cut (gso_type set): its length is
    /// not a wire frame's.
    @inline(__always)
    public var isSegmentationOffload: Bool {
        guard let header, header.count >= 2 else { return false }
        return header[1] != 0
    }

    /// The frame is complete as it stands (no checksum to finish, no segmentation to do).
    @inline(__always)
    public var isPlain: Bool {
        guard let header, header.count >= 2 else { return true }
        return header[0] & 1 == 0 && header[1] == 0
    }
}

/// A port that keeps what it is sent, up to a capacity: for tests and the fault harness.
public final class MemoryPort: FrameSink {
    public private(set) var frames: [[UInt8]] = []
    public var capacity: Int
    public var isAttached = true

    public init(capacity: Int = .max) {
        self.capacity = capacity
    }

    public func send(_ frame: UnsafeRawBufferPointer, offload: OffloadInfo) -> SendResult {
        guard offload.isPlain else { return .dropped(.needsOffload) }
        guard isAttached else { return .dropped(.notAttached) }
        guard frames.count < capacity else { return .dropped(.congested) }
        frames.append(Array(frame))
        return .sent
    }

    public func take() -> [[UInt8]] {
        defer { frames.removeAll() }
        return frames
    }
}
