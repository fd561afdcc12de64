import DNS
import Domain
import Foundation
import HostNet
import Packets
import Switching

/// The status pages' view of the data path: a snapshot of this loop's networks and ports, made
/// from counters copied on the loop thread and published for request threads to read without
/// waiting for it.
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

    /// Copies what the snapshot needs (counters, states, a bounded part of each MAC table) on the
    /// loop thread, and leaves making the snapshot (labels, texts, dictionaries) and comparing it
    /// with the last one to the shard's status queue, off the frame path.
    func publish() {
        lastPublished = Syscall.monotonicMilliseconds()
        let copy = collect()
        statusQueue.async { [self] in build(copy) }
    }

    func collect() -> StatusCopy {
        let now = loop.now == 0 ? Syscall.monotonicMilliseconds() : loop.now
        var copy = StatusCopy()
        for port in nics.values {
            let fabric = port.nic.networkID.flatMap { runtimes[$0]?.fabric }
            let backend = port.backend
            let seen = port.nic.networkID.flatMap { runtimes[$0]?.endpoint?.ipv6Addresses[port.nic.mac] } ?? []
            copy.ports.append(StatusCopy.Port(
                id: port.id, nic: port.nic, vmName: vmNames[port.nic.vmID], failure: port.failure, state: backend?.state,
                protocolErrors: backend?.protocolErrors ?? 0, endpoint: backend?.endpoint,
                counters: fabric?.counters(of: port.id) ?? port.counters, ipv6Addresses: seen))
        }
        for (id, runtime) in runtimes {
            let fabric = runtime.fabric
            let table = fabric.table
            var network = StatusCopy.Network(
                id: id, name: runtime.network.name, members: fabric.members, entries: table.entries(now: now, limit: 256),
                addressCount: table.count, history: fabric.history.perSecond, sent: fabric.sentHistory.perSecond, totals: fabric.totals)
            network.tableCounters.learned = table.counters.learned
            network.tableCounters.moved = table.counters.moved
            network.tableCounters.expired = table.counters.expired
            network.tableCounters.evicted = table.counters.evicted
            if let uplink = runtime.uplink {
                network.uplink = StatusCopy.Uplink(
                    id: uplink.id, adapter: uplink.adapter, isOpen: uplink.port?.isOpen == true, kernelDrops: uplink.port?.kernelDrops ?? 0,
                    failure: uplink.failure, state: uplink.port?.state, counters: fabric.counters(of: uplink.id) ?? PortCounters())
            }
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
                network.dhcp = status
                network.dhcpPort = endpoint.id
                if endpoint.servesNames || runtime.dns != nil {
                    let seconds = endpoint.now
                    if endpoint.listedZoneBuilt.map({ seconds - $0 >= 5 || seconds < $0 }) ?? true {
                        endpoint.listedZone = endpoint.buildZone(now: seconds, forwardsOutside: runtime.network.kind.isNAT)
                        endpoint.listedZoneBuilt = seconds
                    }
                    network.zone = endpoint.listedZone
                    network.dnsCounters = StatusCopy.DNSCounters(
                        queries: endpoint.dnsQueries &+ (runtime.dns?.queries ?? 0), outside: runtime.dns?.outsideQueries ?? 0,
                        forwarded: runtime.dns?.forwarderCounters.forwarded ?? 0, cached: runtime.dns?.forwarderCounters.cached ?? 0,
                        failures: runtime.dns?.forwarderCounters.failures ?? 0)
                }
            }
            copy.networks.append(network)
        }
        return copy
    }

    /// Makes the snapshot from a copy and publishes it (status queue).
    func build(_ copy: StatusCopy) {
        var next = StatusSnapshot()
        var labels: [PortID: String] = [:]
        var byPort: [PortID: PortRuntimeStatus] = [:]
        for port in copy.ports {
            labels[port.id] = "\(port.vmName ?? "VM"), adapter \(port.nic.slot)"
            let status = Self.portStatus(port)
            next.ports[port.nic.id] = status
            if port.nic.networkID != nil { byPort[port.id] = status }
        }
        for network in copy.networks {
            if let uplink = network.uplink { labels[uplink.id] = "uplink \(uplink.adapter)" }
            if let dhcpPort = network.dhcpPort { labels[dhcpPort] = "DHCP server" }
        }
        for network in copy.networks {
            var ports = network.members.compactMap { byPort[$0] }
            if let uplink = network.uplink {
                ports.append(PortRuntimeStatus(
                    kind: .uplink(adapter: uplink.adapter), isAttached: uplink.isOpen,
                    detail: uplink.isOpen ? "Attached to \(uplink.adapter)" + Self.kernelDropNote(uplink.kernelDrops)
                        : (uplink.failure ?? Self.stateText(uplink.state)),
                    endpoint: uplink.adapter, counters: Self.traffic(uplink.counters)))
            }
            next.networks[network.id] = NetworkRuntimeStatus(
                isRunning: true,
                detail: "Switching \(network.members.count) port\(network.members.count == 1 ? "" : "s").",
                ports: ports,
                addresses: network.entries.map { LearnedAddress(mac: $0.address, port: labels[$0.port] ?? "\($0.port)", ageSeconds: Int($0.age / 1000)) },
                addressCount: network.addressCount,
                tableCounters: network.tableCounters,
                history: network.history.map { TrafficSample(frames: $0.frames, bytes: $0.bytes) },
                totals: Self.traffic(network.totals),
                dhcp: network.dhcp)
            next.networks[network.id]?.sentHistory = network.sent.map { TrafficSample(frames: $0.frames, bytes: $0.bytes) }
            next.networks[network.id]?.dns = network.zone.map { Self.zoneStatus($0, network.dnsCounters) }
        }
        let previous = snapshot.withLock { current in
            next.publication = current.publication &+ 1
            defer { current = next }
            return current
        }
        noticeTransitions(from: previous, to: next, copy)
    }

    static func kernelDropNote(_ drops: UInt64) -> String {
        drops == 0 ? "" : " · the kernel dropped \(drops) frame\(drops == 1 ? "" : "s") from the LAN (vnetd's receive queue was full)"
    }

    static func portStatus(_ port: StatusCopy.Port) -> PortRuntimeStatus {
        let attached = port.state == .attached
        var detail: String
        if let failure = port.failure {
            detail = failure
        } else if port.nic.networkID == nil {
            detail = "Not connected to a network" + (attached ? " (a VM is attached)" : "")
        } else {
            detail = stateText(port.state)
        }
        if port.protocolErrors > 0 {
            detail += " · \(port.protocolErrors) peer\(port.protocolErrors == 1 ? "" : "s") disconnected for bad framing or refused while another was attached (see the log)"
        }
        var status = PortRuntimeStatus(
            kind: .nic(port.nic.id), isAttached: attached, detail: detail, endpoint: port.endpoint, counters: traffic(port.counters))
        if !port.ipv6Addresses.isEmpty { status.ipv6Addresses = port.ipv6Addresses.map(\.description) }
        return status
    }

    static func stateText(_ state: PortState?) -> String {
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

/// What a snapshot is made from, copied on the loop thread: values only, no port or switch.
struct StatusCopy: @unchecked Sendable {
    struct Port {
        var id: PortID
        var nic: VirtualNIC
        var vmName: String?
        var failure: String?
        var state: PortState?
        var protocolErrors: UInt64
        var endpoint: String?
        var counters: PortCounters
        var ipv6Addresses: [IPv6Address]
    }

    struct Uplink {
        var id: PortID
        var adapter: String
        var isOpen: Bool
        var kernelDrops: UInt64
        var failure: String?
        var state: PortState?
        var counters: PortCounters
    }

    struct Network {
        var id: NetworkID
        var name: String
        var members: [PortID]
        var entries: [MACTable.Entry]
        var addressCount: Int
        var history: [TrafficHistory.Sample]
        var sent: [TrafficHistory.Sample]
        var totals: PortCounters
        var tableCounters = TableCounters()
        var uplink: Uplink?
        var dhcp: DHCPRuntimeStatus?
        var dhcpPort: PortID?
        var zone: Zone?
        var dnsCounters = DNSCounters()
    }

    struct DNSCounters {
        var queries: UInt64 = 0, outside: UInt64 = 0, forwarded: UInt64 = 0, cached: UInt64 = 0, failures: UInt64 = 0
    }

    var ports: [Port] = []
    var networks: [Network] = []
}

extension DataplaneShard {
    /// The network page's view of the zone (status queue, off the frame path).
    static func zoneStatus(_ zone: Zone, _ counters: StatusCopy.DNSCounters) -> DNSZoneStatus {
        let listing = zone.listing(limit: DNSZoneStatus.listLimit)
        let domain = zone.domain.description
        var status = DNSZoneStatus(
            domain: domain.hasSuffix(".") ? String(domain.dropLast()) : domain,
            names: listing.names.map { DNSZoneStatus.Name(name: $0.name, addresses: $0.addresses) },
            nameCount: listing.count, skippedNames: Array(zone.skippedNames.prefix(20)), forwardsOutside: zone.forwardsOutside)
        status.queries = counters.queries
        status.outsideQueries = counters.outside
        status.forwarded = counters.forwarded
        status.cached = counters.cached
        status.upstreamFailures = counters.failures
        return status
    }
}
