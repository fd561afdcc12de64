import CLinuxNet
import Packets
import Switching

#if canImport(Glibc)
import Glibc
#endif

/// Which unicast frames from the LAN an uplink takes in. Broadcast and multicast always pass.
public struct UplinkFilter: Equatable, Sendable {
    /// The MACs of the network's VM adapters: unicast to them passes, nothing else.
    public var stations: [MACAddress]
    /// Some adapter allows MAC address spoofing, so stations behind it are unknown in advance:
    /// every unicast passes except to the host's own address.
    public var passesAllUnicast: Bool

    public init(stations: [MACAddress], passesAllUnicast: Bool) {
        self.stations = stations
        self.passesAllUnicast = passesAllUnicast
    }
}

/// The uplink of an external network: an AF_PACKET socket on the bound host adapter, in
/// promiscuous mode, that does not read back its own transmissions. Frames from the LAN enter
/// the switch here; frames for the LAN leave through the adapter.
///
/// What the host receives is the host's: a classic BPF filter in the kernel passes only
/// broadcast, multicast and unicast for the network's VMs (`UplinkFilter`), so the host's own
/// SSH, NFS or admin-site traffic never enters a VM's switch and costs no copy. The socket is
/// made with protocol 0 and bound only after the filter is attached, so no frame of another
/// interface (loopback included) is ever queued on it. 802.1Q tags, which the kernel takes off
/// before packet taps, are put back from PACKET_AUXDATA, so trunked traffic keeps its VLAN.
/// Frames the kernel dropped because the socket's queue was full are counted (`kernelDrops`).
/// Every frame crosses with a virtio-net header (PACKET_VNET_HDR): a GRO'd 64 KiB frame or an
/// unfinished checksum from the LAN side says so and is finished (in software, or by a TAP's
/// guest) where needed, and whole TCP segments from VMs are handed to the kernel to segment.
///
/// The host and the VMs talk as on a Linux bridge. The host's own frames leaving the adapter come
/// in as outgoing frames (the filter lets in those from the adapter's MAC for the VMs: broadcast,
/// multicast, unicast to a VM's MAC); the switch never sends them back here, as they came from
/// this port. Frames for the host (to the adapter's MAC, broadcast, multicast) are written to a
/// TAP of vnetd's own (`vnd…`, see `vnetd_host_injector_open`) that the kernel redirects into the
/// adapter's receive path, because a packet socket's frames go to the wire only; unicast to the
/// host goes nowhere else. The copy the socket then sees coming in carries a VM's source and is
/// dropped by the switch (a VM's pinned MAC arriving from the uplink). Without CAP_NET_ADMIN the
/// uplink works without host access and says so (`hostAccessFailure`).
///
/// When the adapter disappears or goes down, sends fail with ENETDOWN/ENXIO: the port closes and
/// says so; the dataplane retries every few seconds and re-attaches when the adapter is back.
public final class PacketSocketPort: IOPort {
    public let adapter: String
    /// The host's own address on the adapter, when it has one.
    public let adapterMAC: MACAddress?
    public private(set) var filter: UplinkFilter
    /// Frames the kernel dropped for this socket (receive queue full), since it opened.
    public private(set) var kernelDrops: UInt64 = 0
    /// Why frames for the host cannot reach it, when they cannot.
    public private(set) var hostAccessFailure: String?
    private var fd: Int32
    /// The TAP that hands frames to the host's stack, or -1.
    private var hostFD: Int32 = -1
    /// The adapter's MAC as one integer, for the per-frame test (all ones: none).
    private let ownAddress: UInt64
    /// The virtio-net header of the frame just read (PACKET_VNET_HDR).
    private var header = [UInt8](repeating: 0, count: OffloadInfo.headerSize)

    public init(id: PortID, loop: EventLoop, adapter: String, filter: UplinkFilter) throws(SystemError) {
        self.adapter = adapter
        self.filter = filter
        let mac = HostInterfaceScanner().interface(named: adapter)?.mac
        adapterMAC = mac
        ownAddress = mac?.value ?? .max
        fd = Int32(try Syscall.helper("open packet socket on \(adapter)") { Int(vnetd_packet_socket()) })
        super.init(id: id, loop: loop, bufferSize: 65_535 + 18 + 4)
        do {
            try install(filter)
            try Syscall.helper("bind packet socket to \(adapter)") { [fd] in Int(vnetd_packet_bind(fd, adapter)) }
            try loop.adopt(fd, self)
        } catch {
            Syscall.close(fd)
            fd = -1
            throw error
        }
        openHostAccess(mac)
        state = .attached
    }

    private func openHostAccess(_ mac: MACAddress?) {
        guard let mac else {
            hostAccessFailure = "The adapter has no MAC address: the host and the VMs cannot talk."
            return
        }
        var name = [CChar](repeating: 0, count: 16)
        let result = mac.octets.withUnsafeBufferPointer { octets in
            name.withUnsafeMutableBufferPointer { vnetd_host_injector_open(adapter, octets.baseAddress, $0.baseAddress, $0.count) }
        }
        if result >= 0 {
            hostFD = result
            hostAccessFailure = nil
        } else {
            hostAccessFailure = -result == EPERM
                ? "Needs CAP_NET_ADMIN for the host to reach its VMs (the VMs reach the LAN without it)."
                : "The host cannot reach its VMs: \(String(cString: strerror(-result)))."
        }
    }

    public override var endpoint: String { adapter }
    public var isOpen: Bool { fd >= 0 }

    /// Replaces the kernel filter when the network's stations change.
    public func update(_ next: UplinkFilter) {
        guard fd >= 0, next != filter else { return }
        filter = next
        try? install(next)
    }

    private func install(_ filter: UplinkFilter) throws(SystemError) {
        var flat: [UInt8] = []
        flat.reserveCapacity(filter.stations.count * 6)
        for station in filter.stations { flat += station.octets }
        let own = adapterMAC?.octets
        let fd = fd
        let result = flat.withUnsafeBufferPointer { macs in
            own.withUnsafeBufferPointerIfPresent { ownPointer in
                vnetd_packet_set_filter(fd, macs.baseAddress, Int32(filter.stations.count), ownPointer, filter.passesAllUnicast ? 1 : 0)
            }
        }
        if result == -E2BIG {
            // More stations than one program holds: fall back to every unicast but the host's.
            try Syscall.helper("filter packet socket") {
                own.withUnsafeBufferPointerIfPresent { Int(vnetd_packet_set_filter(fd, nil, 0, $0, 1)) }
            }
        } else if result < 0 {
            try Syscall.helper("filter packet socket") { Int(result) }
        }
    }

    public override func handle(events: UInt32) {
        guard fd >= 0 else { return }
        for _ in 0..<64 {
            var start = 0
            let capacity = buffer.count
            let count = header.withUnsafeMutableBufferPointer { header in
                buffer.withUnsafeMutableBytes { bytes in
                    vnetd_packet_receive(fd, header.baseAddress, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count, &start)
                }
            }
            if count > capacity - 4 {  // larger than any frame the switch takes: counted, not cut short
                dropOversized(bytes: count)
                continue
            }
            if count > 0 {
                header.withUnsafeBytes { header in
                    buffer.withUnsafeBytes { ingest(UnsafeRawBufferPointer(rebasing: $0[start..<start + count]), offload: OffloadInfo(header: header)) }
                }
                continue
            }
            if count == -Int(EINTR) { continue }
            if count == -Int(EAGAIN) || count == -Int(EWOULDBLOCK) { return }
            if count < 0 { lose(Int32(-count)) }
            return
        }
    }

    /// Adds the kernel's drop count since the last call (the kernel resets it on every read).
    public func refreshStatistics() {
        guard fd >= 0 else { return }
        var packets: UInt32 = 0, drops: UInt32 = 0
        if vnetd_packet_statistics(fd, &packets, &drops) == 0 { kernelDrops &+= UInt64(drops) }
    }

    /// Offloaded frames go out as they are: the kernel finishes them (or the NIC does).
    public override var handlesOffloads: Bool { true }

    public override func send(_ frame: UnsafeRawBufferPointer, offload: OffloadInfo) -> SendResult {
        guard fd >= 0 else { return .dropped(.notAttached) }
        let header = offload.header.flatMap { $0.count >= OffloadInfo.headerSize ? $0.baseAddress?.assumingMemoryBound(to: UInt8.self) : nil }
        if hostFD >= 0, let destination = EthernetFrame.addresses(of: frame)?.destination {
            let group = !destination.isUnicast
            if group || destination.value == ownAddress {
                let written = vnetd_tap_send(hostFD, header, frame.baseAddress?.assumingMemoryBound(to: UInt8.self), frame.count)
                if !group { return written >= 0 ? .sent : .dropped(written == -Int(EAGAIN) ? .congested : .failed) }
            }
        }
        while true {
            let count = vnetd_packet_send(fd, header, frame.baseAddress?.assumingMemoryBound(to: UInt8.self), frame.count)
            if count >= 0 { return .sent }
            switch Int32(-count) {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK, ENOBUFS: return .dropped(.congested)
            case ENETDOWN, ENXIO, ENODEV:
                lose(Int32(-count))
                return .dropped(.notAttached)
            case EINVAL: return .dropped(.malformed)  // a header the kernel refuses (a guest's bad GSO fields)
            default: return .dropped(.failed)
            }
        }
    }

    private func lose(_ error: Int32) {
        close()
        state = .unavailable("The host adapter \(adapter) is down or gone (\(String(cString: strerror(error)))); vnetd re-attaches when it is back.")
    }

    public override func close() {
        if hostFD >= 0 {
            Syscall.close(hostFD)  // the TAP and its redirect go with it
            hostFD = -1
        }
        guard fd >= 0 else { return }
        loop.unregister(fd)
        Syscall.close(fd)
        fd = -1
    }
}

extension Optional where Wrapped == [UInt8] {
    /// The bytes' address for a C call, or NULL when there are none.
    fileprivate func withUnsafeBufferPointerIfPresent<R>(_ body: (UnsafePointer<UInt8>?) -> R) -> R {
        switch self {
        case .some(let bytes): bytes.withUnsafeBufferPointer { body($0.baseAddress) }
        case .none: body(nil)
        }
    }
}
