import Packets

/// A learning Ethernet switch: the data path of one virtual network.
///
/// `receive` follows Linux's br_handle_frame_finish: validate the frame, learn its source, look
/// up its destination, then deliver to that one port or flood to every member but the ingress
/// port. Learning comes after validation so that a malformed frame cannot move an entry.
/// Frames never leave the switch except through its own members: two networks share nothing.
///
/// Policies on top of learning, each counted as a drop reason on the ingress or egress port:
/// link-local control frames (STP, PAUSE) are never forwarded; every port's own MAC is pinned
/// (`PortRole`); a VM port sends only from its NIC's MAC unless the NIC allows spoofing; and
/// while the network's DHCP server is on (`dhcpGuard`), no VM or LAN host can answer DHCP and
/// DHCP does not cross between the VMs and the LAN; a frame from the uplink with a VM's own
/// source is a copy coming back (the host's, or a LAN loop) and is never switched.
///
/// Threading: one switch belongs to one I/O thread; no locks. Nothing on the frame path
/// allocates: members live in an array, counters in a parallel array.
public final class VirtualSwitch {
    public let name: String
    /// Largest frame accepted, header included.
    public let maximumFrameSize: Int
    public private(set) var table: MACTable
    public private(set) var members: [PortID] = []
    private var sinks: [any FrameSink] = []
    private var roles: [PortRole] = []
    /// The network's own DHCP server is on: DHCP from elsewhere is kept out (see above).
    public var dhcpGuard = false
    private var counters: [PortCounters] = []
    private var histories: [TrafficHistory] = []
    /// Storm control of every member (see `StormLimits`); off by default.
    public var stormLimits = StormLimits()
    private var meters: [StormMeter] = []
    /// Counters of ports that left, so the network's totals never go backwards.
    private var departed = PortCounters()
    /// What entered the switch, per second.
    public private(set) var history = TrafficHistory()
    /// What the switch sent out (floods count once per port), per second.
    public private(set) var sentHistory = TrafficHistory()
    /// Frames finished in software, kept for the rest of a flood. Its buffer is allocated the
    /// first time a network needs it, so thousands of quiet networks do not pay for it.
    private var finished = FinishedFrames()

    /// The largest frame is a 64 KiB TCP segment handed over whole by a TAP with offloads,
    /// plus its Ethernet header and one VLAN tag.
    public init(name: String, macTableCapacity: Int = 8192, agingTime: Int64 = 300_000, maximumFrameSize: Int = 65_535 + 18) {
        self.name = name
        self.maximumFrameSize = maximumFrameSize
        table = MACTable(capacity: macTableCapacity, agingTime: agingTime)
    }

    deinit {
        finished.release()
    }

    /// Adds a port. Its counters start at zero, or at `counters` when it comes from another switch.
    /// Attaching a member again replaces its sink (a new backend) and role, and keeps its counters.
    public func attach(_ port: PortID, sink: any FrameSink, role: PortRole = .plain,
                       counters carried: PortCounters = PortCounters(), history: TrafficHistory = TrafficHistory()) {
        if let slot = members.firstIndex(of: port) {
            sinks[slot] = sink
            if let old = Self.pinnedAddress(roles[slot]) { table.unpin(old, from: port) }
            roles[slot] = role
            if let mac = Self.pinnedAddress(role) { table.pin(mac, to: port) }
            return
        }
        members.append(port)
        sinks.append(sink)
        roles.append(role)
        if let mac = Self.pinnedAddress(role) { table.pin(mac, to: port) }
        counters.append(carried)
        meters.append(StormMeter())
        histories.append(history)
    }

    /// Removes a port and the addresses learned on it; returns its counters and history.
    @discardableResult
    public func detach(_ port: PortID) -> (PortCounters, TrafficHistory)? {
        guard let slot = members.firstIndex(of: port) else { return nil }
        members.remove(at: slot)
        sinks.remove(at: slot)
        roles.remove(at: slot)
        let gone = counters.remove(at: slot)
        let history = histories.remove(at: slot)
        meters.remove(at: slot)
        departed = departed + gone
        table.forget(port: port)
        return (gone, history)
    }

    public func isMember(_ port: PortID) -> Bool { members.contains(port) }

    /// What a member is (services ask who a frame's port speaks for).
    public func role(of port: PortID) -> PortRole? {
        members.firstIndex(of: port).map { roles[$0] }
    }

    private static func pinnedAddress(_ role: PortRole) -> MACAddress? {
        switch role {
        case .plain: nil
        case .vm(let mac, _): mac
        case .uplink(let mac): mac
        case .service(let mac): mac
        }
    }

    /// Switches one frame that arrived on `ingress`. `now` is monotonic milliseconds. `offload`
    /// travels with the frame to every port it is delivered to.
    public func receive(_ frame: UnsafeRawBufferPointer, offload: OffloadInfo = .none, from ingress: PortID, now: Int64) {
        guard let inSlot = members.firstIndex(of: ingress) else { return }
        counters[inSlot].rxFrames &+= 1
        counters[inSlot].rxBytes &+= UInt64(frame.count)
        guard frame.count <= maximumFrameSize, let (destination, source) = EthernetFrame.addresses(of: frame) else {
            counters[inSlot].rxDrops.count(.malformed)
            return
        }
        guard source.isUnicast else {
            counters[inSlot].rxDrops.count(.badSource)
            return
        }
        if FramePolicy.isLinkLocal(frame, destination: destination) {
            counters[inSlot].rxDrops.count(.linkLocal)
            return
        }
        let ingressRole = roles[inSlot]
        switch ingressRole {
        case .vm(let mac, false) where source != mac:
            counters[inSlot].rxDrops.count(.spoofedSource)
            return
        case .uplink where table.isPinned(source, elsewhereThan: ingress):
            counters[inSlot].rxDrops.count(.looped)
            return
        default: break
        }
        // DHCP apart while the network's server is on: no rogue server in a VM, no LAN server
        // answering VMs, no VM request reaching the LAN (below, on egress).
        let dhcp = dhcpGuard ? FramePolicy.dhcpDirection(frame) : nil
        if let dhcp {
            switch ingressRole {
            case .vm where dhcp == .toClient, .uplink:
                counters[inSlot].rxDrops.count(.dhcpFiltered)
                return
            default: break
            }
        }
        table.learn(source, on: ingress, now: now)

        if destination.isUnicast, let egress = table.port(of: destination, now: now) {
            guard egress != ingress else {
                counters[inSlot].rxDrops.count(.sameSegment)
                return
            }
            var finishedReady = false
            if let outSlot = members.firstIndex(of: egress) {
                if dhcp != nil, case .uplink = roles[outSlot] {
                    counters[outSlot].txDrops.count(.dhcpFiltered)
                    return
                }
                deliver(frame, offload, slot: outSlot, finishedReady: &finishedReady)
            }
            return
        }
        if !stormLimits.isOff, !admitFlood(destination, slot: inSlot, now: now) { return }
        // Finished in software at most once per frame, however many ports the flood reaches.
        var finishedReady = false
        for outSlot in members.indices where outSlot != inSlot {
            if dhcp != nil, case .uplink = roles[outSlot] {
                counters[outSlot].txDrops.count(.dhcpFiltered)
                continue
            }
            deliver(frame, offload, slot: outSlot, finishedReady: &finishedReady)
        }
    }

    /// Storm control on a frame about to be flooded: within its port's limit for its kind, or
    /// dropped and counted. vnetd's own services (the DHCP server's probes) are not limited.
    @inline(__always)
    private func admitFlood(_ destination: MACAddress, slot: Int, now: Int64) -> Bool {
        if case .service = roles[slot] { return true }
        let kind: StormMeter.Kind = destination.isBroadcast ? .broadcast : (destination.isUnicast ? .unknownUnicast : .multicast)
        guard !meters[slot].admit(kind, limits: stormLimits, now: now) else { return true }
        switch kind {
        case .broadcast: counters[slot].rxDrops.count(.stormBroadcast)
        case .multicast: counters[slot].rxDrops.count(.stormMulticast)
        case .unknownUnicast: counters[slot].rxDrops.count(.stormUnknownUnicast)
        }
        return false
    }

    /// Counts a frame a port received but could not hand over (larger than its buffer).
    public func countDrop(_ reason: DropReason, from ingress: PortID, bytes: Int) {
        guard let inSlot = members.firstIndex(of: ingress) else { return }
        counters[inSlot].rxFrames &+= 1
        counters[inSlot].rxBytes &+= UInt64(max(0, bytes))
        counters[inSlot].rxDrops.count(reason)
    }

    /// Sends a frame from one member straight to another, without learning or flooding: the
    /// DHCP server answers only the port a request came from, so its broadcasts never reach the
    /// uplink or other VMs.
    public func forward(_ frame: UnsafeRawBufferPointer, from source: PortID, to destination: PortID) {
        guard let inSlot = members.firstIndex(of: source), let outSlot = members.firstIndex(of: destination), inSlot != outSlot else { return }
        counters[inSlot].rxFrames &+= 1
        counters[inSlot].rxBytes &+= UInt64(frame.count)
        var finishedReady = false
        deliver(frame, .none, slot: outSlot, finishedReady: &finishedReady)
    }

    @inline(__always)
    private func deliver(_ frame: UnsafeRawBufferPointer, _ offload: OffloadInfo, slot: Int, finishedReady: inout Bool) {
        if !offload.isPlain && !sinks[slot].handlesOffloads {
            if !finishedReady {
                finished.prepare(frame, offload)
                finishedReady = true
            }
            return deliverFinished(slot: slot)
        }
        record(sinks[slot].send(frame, offload: offload), slot: slot, bytes: frame.count)
    }

    @inline(__always)
    private func record(_ result: SendResult, slot: Int, bytes: Int) {
        switch result {
        case .sent:
            counters[slot].txFrames &+= 1
            counters[slot].txBytes &+= UInt64(bytes)
        case .dropped(let reason):
            counters[slot].txDrops.count(reason)
        }
    }

    /// A frame whose checksum or segmentation was left to the receiver, for a port that cannot
    /// take that (a QEMU socket, the uplink): finished in software once per frame, however many
    /// ports it floods to, then sent as plain frames.
    private func deliverFinished(slot: Int) {
        guard let failure = finished.failure else {
            for (offset, length) in finished.segments {
                let segment = UnsafeRawBufferPointer(rebasing: finished.buffer[offset..<offset + length])
                record(sinks[slot].send(segment, offload: .none), slot: slot, bytes: length)
            }
            return
        }
        counters[slot].txDrops.count(failure == .unsupported || failure == .tooManySegments ? .needsOffload : .malformed)
    }

    /// Closes the second: ages the table and appends to every history. Call once a second.
    public func tick(now: Int64) {
        table.expire(now: now)
        var total = departed
        for slot in members.indices {
            histories[slot].record(totalFrames: counters[slot].rxFrames &+ counters[slot].txFrames, totalBytes: counters[slot].rxBytes &+ counters[slot].txBytes)
            total = total + counters[slot]
        }
        history.record(totalFrames: total.rxFrames, totalBytes: total.rxBytes)
        sentHistory.record(totalFrames: total.txFrames, totalBytes: total.txBytes)
    }

    public func counters(of port: PortID) -> PortCounters? {
        members.firstIndex(of: port).map { counters[$0] }
    }

    public func history(of port: PortID) -> TrafficHistory? {
        members.firstIndex(of: port).map { histories[$0] }
    }

    /// Totals over every port that is or was a member.
    public var totals: PortCounters {
        counters.reduce(departed, +)
    }
}
