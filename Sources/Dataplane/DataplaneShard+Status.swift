import Domain
import Foundation
import HostNet
import Packets
import Switching

/// The status pages' view of the data path: a snapshot of this loop's networks and ports, built
/// on the loop thread and published for request threads to read without waiting for it.
extension DataplaneShard {
    // MARK: snapshot

    struct StatusSnapshot {
        var networks: [NetworkID: NetworkRuntimeStatus] = [:]
        var ports: [NICID: PortRuntimeStatus] = [:]
        /// Counts publications, so pages can reuse what they derived from the same one.
        var publication: UInt64 = 0
    }

    /// Publishes after a change, at most every `publishInterval`: building the snapshot is
    /// O(networks + ports), and a burst of saves must not starve the frames this thread forwards.
    func publishSoon() {
        guard !publishPending else { return }
        let wait = lastPublished + Self.publishInterval - Syscall.monotonicMilliseconds()
        guard wait > 0 else { return publish() }
        publishPending = true
        loop.runAfter(milliseconds: wait) { [self] in
            publishPending = false
            publish()
        }
    }

    func publish() {
        lastPublished = Syscall.monotonicMilliseconds()
        let now = loop.now == 0 ? Syscall.monotonicMilliseconds() : loop.now
        var next = StatusSnapshot()
        var labels: [PortID: String] = [:]
        var nicByPort: [PortID: NICPort] = [:]
        for port in nics.values {
            nicByPort[port.id] = port
            labels[port.id] = "\(vmNames[port.nic.vmID] ?? "VM"), adapter \(port.nic.slot)"
            let fabric = port.nic.networkID.flatMap { runtimes[$0]?.fabric }
            let counters = fabric?.counters(of: port.id) ?? port.counters
            next.ports[port.nic.id] = portStatus(port, counters: counters)
        }
        for runtime in runtimes.values {
            if let uplink = runtime.uplink { labels[uplink.id] = "uplink \(uplink.adapter)" }
        }
        for (id, runtime) in runtimes {
            let fabric = runtime.fabric
            var ports: [PortRuntimeStatus] = []
            for member in fabric.members {
                if let port = nicByPort[member], let status = next.ports[port.nic.id] {
                    ports.append(status)
                }
            }
            if let uplink = runtime.uplink {
                let counters = fabric.counters(of: uplink.id) ?? PortCounters()
                ports.append(PortRuntimeStatus(
                    kind: .uplink(adapter: uplink.adapter), isAttached: uplink.port?.isOpen == true,
                    detail: uplink.port?.isOpen == true ? "Attached to \(uplink.adapter)" + Self.kernelDropNote(uplink.port?.kernelDrops ?? 0)
                        : (uplink.failure ?? stateText(uplink.port?.state)),
                    endpoint: uplink.adapter, counters: Self.traffic(counters)))
            }
            let table = fabric.table
            let entries = table.entries(now: now, limit: 256)
            var tableCounters = TableCounters()
            tableCounters.learned = table.counters.learned
            tableCounters.moved = table.counters.moved
            tableCounters.expired = table.counters.expired
            tableCounters.evicted = table.counters.evicted
            var dhcp: DHCPRuntimeStatus?
            if let endpoint = runtime.endpoint {
                let counters = endpoint.server.counters
                var status = DHCPRuntimeStatus()
                status.discovers = counters.discovers
                status.offers = counters.offers
                status.acks = counters.acks
                status.naks = counters.naks
                status.declines = counters.declines
                status.releases = counters.releases
                status.informs = counters.informs
                status.exhausted = counters.exhausted
                status.malformed = endpoint.malformed
                status.ignoredFromLAN = endpoint.ignoredFromUplink
                status.conflicts = counters.conflicts
                status.reservationFallbacks = counters.reservationFallbacks
                status.foreignHardware = endpoint.foreignHardware
                status.overLimit = counters.overLimit
                status.shed = endpoint.shedDiscovers
                status.addressesInUse = endpoint.server.addressesInUse(now: Int64(services.clock.now().timeIntervalSince1970))
                status.poolSize = endpoint.server.poolSize
                dhcp = status
                labels[endpoint.id] = "DHCP server"
            }
            next.networks[id] = NetworkRuntimeStatus(
                isRunning: true,
                detail: "Switching \(fabric.members.count) port\(fabric.members.count == 1 ? "" : "s").",
                ports: ports,
                addresses: entries.map { LearnedAddress(mac: $0.address, port: labels[$0.port] ?? "\($0.port)", ageSeconds: Int($0.age / 1000)) },
                addressCount: table.count,
                tableCounters: tableCounters,
                history: fabric.history.perSecond.map { TrafficSample(frames: $0.frames, bytes: $0.bytes) },
                totals: Self.traffic(fabric.totals),
                dhcp: dhcp)
            next.networks[id]?.sentHistory = fabric.sentHistory.perSecond.map { TrafficSample(frames: $0.frames, bytes: $0.bytes) }
        }
        let previous = snapshot.withLock { current in
            next.publication = current.publication &+ 1
            defer { current = next }
            return current
        }
        noticeTransitions(from: previous, to: next)
    }

    static func kernelDropNote(_ drops: UInt64) -> String {
        drops == 0 ? "" : " · the kernel dropped \(drops) frame\(drops == 1 ? "" : "s") from the LAN (vnetd's receive queue was full)"
    }

    func portStatus(_ port: NICPort, counters: PortCounters) -> PortRuntimeStatus {
        let backend = port.backend
        let attached = backend?.state == .attached
        var detail: String
        if let failure = port.failure {
            detail = failure
        } else if port.nic.networkID == nil {
            detail = "Not connected to a network" + (attached ? " (a VM is attached)" : "")
        } else {
            detail = stateText(backend?.state)
        }
        if let backend, backend.protocolErrors > 0 {
            detail += " · \(backend.protocolErrors) peer\(backend.protocolErrors == 1 ? "" : "s") disconnected for bad framing or replaced"
        }
        var status = PortRuntimeStatus(
            kind: .nic(port.nic.id), isAttached: attached, detail: detail, endpoint: backend?.endpoint, counters: Self.traffic(counters))
        if let network = port.nic.networkID, let seen = runtimes[network]?.endpoint?.ipv6Addresses[port.nic.mac] {
            status.ipv6Addresses = seen.map(\.description)
        }
        return status
    }

    func stateText(_ state: PortState?) -> String {
        switch state {
        case .attached: "Attached"
        case .waiting: "Waiting for the VM to connect"
        case .unavailable(let reason): reason
        case nil: "Not available"
        }
    }

    static func traffic(_ counters: PortCounters) -> TrafficCounters {
        var traffic = TrafficCounters()
        traffic.rxFrames = counters.rxFrames
        traffic.rxBytes = counters.rxBytes
        traffic.txFrames = counters.txFrames
        traffic.txBytes = counters.txBytes
        for reason in DropReason.allCases where reason != .sameSegment {
            let count = counters.rxDrops[reason] &+ counters.txDrops[reason]
            if count > 0 { traffic.drops.append(TrafficCounters.Drop(reason: reason.label, count: count)) }
        }
        return traffic
    }
}
