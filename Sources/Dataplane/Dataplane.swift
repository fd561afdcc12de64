import Domain
import Foundation
import HostNet
import Logging
import Packets
import Switching
import Synchronization

/// The running switches: one `VirtualSwitch` per virtual network, one port per VM network
/// adapter, one uplink per external network whose adapter is bound and present.
///
/// The coordinator. It owns the event loops (`DataplaneShard`, one thread each) and routes
/// domain changes to them; it touches no switch or port itself. Each network's runtime
/// (`NetworkRuntime`: its switch, member ports, uplink, DHCP endpoint) lives on one loop for its
/// whole life, so the frame path takes no lock and two networks never share a thread's state.
/// A NIC's port lives on the loop of its network; one that is connected to none stays where it
/// was (on the first loop when new). Moving a NIC between networks on different loops hands its
/// backend's descriptors from one loop to the other (`NICPort.swift`).
///
/// Threading: `apply` comes from request threads; the routing table is behind one lock, taken
/// only by `apply`, `start` and status reads, never by a loop. Changes are posted to the loops in
/// the order they arrive. Pages read the snapshots each loop publishes after every change and
/// every second, so a page never waits for the data path.
public final class Dataplane: DataplaneApplying, RuntimeStatusReading, @unchecked Sendable {
    public struct Configuration: Sendable {
        /// Folder for the QEMU sockets; created if missing, stale sockets removed at start.
        public var runtimeDirectory: String
        public var macTableCapacity: Int
        /// Milliseconds.
        public var agingTime: Int64
        /// Event-loop threads for the data path; at least one.
        public var threads: Int
        /// Where NAT networks' DNS servers forward names outside their zone: these servers when
        /// given (`--dns-upstream`, checked with `Dataplane.isValidDNSUpstream`), else the host's
        /// resolvers from `resolvConfPath`, re-read when it changes.
        public var dnsUpstreams: [String] = []
        public var resolvConfPath = "/etc/resolv.conf"
        /// Group the QEMU socket files are given (`--socket-group`; mode 0660 lets it connect);
        /// nil: they keep vnetd's own group.
        public var socketGroup: UInt32?

        public init(runtimeDirectory: String, macTableCapacity: Int = 8192, agingTime: Int64 = 300_000, threads: Int = 1) {
            self.runtimeDirectory = runtimeDirectory
            self.macTableCapacity = macTableCapacity
            self.agingTime = agingTime
            self.threads = threads
        }
    }

    let configuration: Configuration
    let logger: Logger
    /// Where port, uplink and DHCP transitions are recorded as events (see `OperationalEvents`).
    public let operationalEvents = OperationalEvents()
    let shards: [DataplaneShard]
    private(set) var persister: LeasePersister!
    private let routing = Mutex(Routing())
    /// Host and NAT networks' nftables table and forwarding switches (`NATController`).
    let nat: NATController
    let hostNetworks = HostNetworkRegistry()

    /// Which loop serves what, and the domain state routing needs. Behind `routing`.
    struct Routing {
        var networks: [NetworkID: VirtualNetwork] = [:]
        var networkShard: [NetworkID: Int] = [:]
        var nics: [NICID: VirtualNIC] = [:]
        var nicShard: [NICID: Int] = [:]
        var bindings: [String: Bool] = [:]
        var vmNames: [VMID: String] = [:]
    }

    public init(configuration: Configuration, leaseStore: any LeaseStore, clock: any Domain.Clock, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        try FileManager.default.createDirectory(
            atPath: configuration.runtimeDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        Self.removeStaleSockets(in: configuration.runtimeDirectory)
        let services = DataplaneServices(
            configuration: configuration, logger: logger, clock: clock, leaseStore: leaseStore,
            operationalEvents: operationalEvents, portIDs: PortIDAllocator(), hostNetworks: hostNetworks)
        nat = NATController(logger: logger, leaseStore: leaseStore,
                            stateFile: (configuration.runtimeDirectory as NSString).appendingPathComponent("nat-forwarding"))
        shards = try (0..<max(1, configuration.threads)).map { try DataplaneShard(index: $0, services: services) }
        persister = LeasePersister(
            store: leaseStore,
            deliver: { [unowned self] replies in deliverStoredReplies(replies) },
            report: { [logger] error in logger.error("could not store DHCP leases; their ACKs are not sent", metadata: ["error": "\(error)"]) })
        for shard in shards {
            shard.persister = persister
            shard.start(name: shards.count == 1 ? "vnetd-dataplane" : "vnetd-dataplane-\(shard.index)")
        }
    }

    /// Builds every switch and port from the stored configuration.
    public func start(networks: [VirtualNetwork], nics: [VirtualNIC], bindings: [AdapterBinding], vmNames: [VMID: String],
                      stormControl: [(NetworkID, StormControlSettings)] = [], dhcp: [(NetworkID, DHCPSettings)] = [], forwards: [PortForward] = []) {
        routing.withLock { routing in
            routing.vmNames = vmNames
            for binding in bindings { routing.bindings[binding.name] = binding.isBound }
            for network in networks { addNetwork(network, &routing) }
            for nic in nics { place(nic, &routing) }
            for (network, settings) in dhcp { route(.dhcpChanged(network, settings), &routing) }
            for (network, settings) in stormControl { route(.stormControlChanged(network, settings), &routing) }
            shareNames(routing)
        }
        nat.start(forwards: forwards)
        for shard in shards { shard.loop.post { shard.publish() } }
    }

    public func apply(_ change: DataplaneChange) {
        routing.withLock { routing in
            route(change, &routing)
            switch change {
            case .nicAdded, .nicChanged, .nicRemoved, .vmRenamed, .networkChanged: shareNames(routing)
            default: break
            }
        }
    }

    /// The first data path thread's kernel id: its CPU time is in /proc/self/task/<id>/stat.
    public var threadID: Int32 { shards[0].loop.threadID }
    /// Every data path thread's kernel id, one per loop.
    public var threadIDs: [Int32] { shards.map(\.loop.threadID) }

    /// The kernel id of the thread that serves a network (for per-thread CPU figures in tests).
    public func threadID(serving network: NetworkID) -> Int32? {
        routing.withLock { $0.networkShard[network] }.map { shards[$0].loop.threadID }
    }

    /// Waits until every change applied so far has taken effect (tests, clean shutdown).
    public func settle() {
        for shard in shards {
            shard.loop.sync { shard.publish() }
            shard.statusQueue.sync {}
        }
    }

    /// Closes every port and socket, removes the socket files, and stops the loop threads.
    /// The lease writer stops first, while the loops still run: the replies it has stored go out
    /// (or are dropped with their ports) instead of being posted to a closed loop.
    public func shutdown() {
        nat.stop()
        persister.stop()
        for shard in shards { shard.loop.sync { shard.closeAll() } }
        for shard in shards { shard.loop.stop() }
    }

    // MARK: status

    public func status(of network: NetworkID) -> NetworkRuntimeStatus {
        let home = routing.withLock { $0.networkShard[network] }
        var status = lookUp(preferring: home) { $0.networks[network] }
            ?? NetworkRuntimeStatus(isRunning: false, detail: "Starting…")
        status.hostInterface = hostNetworks.status(of: network)
        status.nat = nat.status(of: network)
        return status
    }

    public func status(of nic: NICID) -> PortRuntimeStatus {
        let home = routing.withLock { $0.nicShard[nic] }
        return lookUp(preferring: home) { $0.ports[nic] } ?? PortRuntimeStatus(isAttached: false, detail: "Starting…")
    }

    public var publication: UInt64? {
        shards.reduce(0) { $0 &+ $1.snapshot.withLock { $0.publication } }
    }

    /// The snapshot of the loop that serves a thing now, else any that still shows it.
    private func lookUp<T>(preferring home: Int?, _ read: (DataplaneShard.StatusSnapshot) -> T?) -> T? {
        if let home, let found = shards[home].snapshot.withLock({ read($0) }) { return found }
        for shard in shards where shard.index != home {
            if let found = shard.snapshot.withLock({ read($0) }) { return found }
        }
        return nil
    }

    // MARK: routing, under the lock

    private func route(_ change: DataplaneChange, _ routing: inout Routing) {
        switch change {
        case .networkChanged(let network): nat.networkChanged(network)
        case .networkRemoved(let id): nat.networkRemoved(id)
        case .dhcpChanged(let id, let settings): nat.scopeChanged(id, settings)
        default: break
        }
        switch change {
        case .networkAdded(let network):
            addNetwork(network, &routing)
        case .networkChanged(let network):
            guard let shard = shard(of: network.id, routing) else { return addNetwork(network, &routing) }
            routing.networks[network.id] = network
            let adapter = Self.uplinkAdapter(of: network, routing)
            post(shard) { $0.changeNetwork(network, uplinkAdapter: adapter) }
        case .networkRemoved(let id):
            routing.networks[id] = nil
            guard let index = routing.networkShard.removeValue(forKey: id) else { return }
            for (nicID, nic) in routing.nics where nic.networkID == id { routing.nics[nicID]?.networkID = nil }
            post(shards[index]) { $0.removeNetwork(id) }
        case .nicAdded(let nic), .nicChanged(let nic):
            place(nic, &routing)
        case .nicRemoved(let id):
            routing.nics[id] = nil
            guard let index = routing.nicShard.removeValue(forKey: id) else { return }
            post(shards[index]) { $0.removeNIC(id) }
        case .adapterBindingChanged(let binding):
            routing.bindings[binding.name] = binding.isBound
            for network in routing.networks.values where network.kind.adapterName == binding.name {
                guard let shard = shard(of: network.id, routing) else { continue }
                let adapter = Self.uplinkAdapter(of: network, routing)
                post(shard) { $0.changeUplink(of: network.id, to: adapter) }
            }
        case .vmRenamed(let id, let name):
            routing.vmNames[id] = name
        case .dhcpChanged(let id, let settings):
            guard let shard = shard(of: id, routing) else { return }
            post(shard) { $0.changeDHCP(id, settings) }
        case .leaseReleased(let id, let address):
            guard let shard = shard(of: id, routing) else { return }
            post(shard) { $0.runtimes[id]?.endpoint?.revoke(address) }
        case .stormControlChanged(let id, let settings):
            guard let shard = shard(of: id, routing) else { return }
            let limits = Self.limits(settings)
            post(shard) { $0.runtimes[id]?.fabric.stormLimits = limits }
        case .portForwardsChanged(let id, let forwards):
            nat.forwardsChanged(id, forwards)
        }
    }

    /// A new network goes to the loop serving the fewest.
    private func addNetwork(_ network: VirtualNetwork, _ routing: inout Routing) {
        routing.networks[network.id] = network
        nat.networkChanged(network)
        let index = routing.networkShard[network.id] ?? leastLoaded(routing)
        routing.networkShard[network.id] = index
        let adapter = Self.uplinkAdapter(of: network, routing)
        post(shards[index]) { $0.addNetwork(network, uplinkAdapter: adapter) }
    }

    private func leastLoaded(_ routing: Routing) -> Int {
        var load = [Int](repeating: 0, count: shards.count)
        for index in routing.networkShard.values { load[index] += 1 }
        return load.indices.min { load[$0] < load[$1] } ?? 0
    }

    /// Where a NIC's port goes: to its network's loop; unconnected, it stays where it is.
    private func place(_ nic: VirtualNIC, _ routing: inout Routing) {
        routing.nics[nic.id] = nic
        let current = routing.nicShard[nic.id]
        let target = nic.networkID.flatMap { routing.networkShard[$0] } ?? current ?? 0
        routing.nicShard[nic.id] = target
        guard let current else { return post(shards[target]) { $0.addNIC(nic) } }
        guard current != target else { return post(shards[target]) { $0.changeNIC(nic) } }
        let from = shards[current], to = shards[target]
        let port = from.loop.sync { from.release(nic.id) }
        post(to) { $0.adopt(port, as: nic) }
    }

    /// Each NIC's VM name, for the names the DHCP endpoints answer and the pages' labels.
    private func shareNames(_ routing: Routing) {
        let vmNames = routing.vmNames
        let byMAC = Dictionary(routing.nics.values.compactMap { nic in vmNames[nic.vmID].map { (nic.mac, $0) } },
                               uniquingKeysWith: { first, _ in first })
        for shard in shards { post(shard) { $0.shareNames(vmNames, byMAC: byMAC) } }
    }

    private func shard(of network: NetworkID, _ routing: Routing) -> DataplaneShard? {
        routing.networkShard[network].map { shards[$0] }
    }

    static func limits(_ settings: StormControlSettings) -> StormLimits {
        func rate(_ value: Int?) -> UInt32? { value.map { UInt32(clamping: $0) } }
        return StormLimits(broadcast: rate(settings.broadcast), multicast: rate(settings.multicast), unknownUnicast: rate(settings.unknownUnicast))
    }

    /// The adapter an external network's uplink uses: its own, when that adapter is bound.
    static func uplinkAdapter(of network: VirtualNetwork, _ routing: Routing) -> String? {
        network.kind.adapterName.flatMap { routing.bindings[$0] == true ? $0 : nil }
    }

    private func post(_ shard: DataplaneShard, _ work: @escaping @Sendable (DataplaneShard) -> Void) {
        shard.loop.post {
            work(shard)
            shard.publishSoon()
        }
    }

    /// Replies whose leases are now stored, each to the loop of its network (lease writer's thread).
    private func deliverStoredReplies(_ replies: [LeasePersister.Pending]) {
        let byShard = routing.withLock { routing in Dictionary(grouping: replies) { routing.networkShard[$0.network] } }
        for (index, replies) in byShard {
            guard let index else { continue }
            let shard = shards[index]
            shard.loop.post { shard.deliverStoredReplies(replies) }
        }
    }

    // MARK: files and names

    /// `vnd` and the first 12 hex digits of the NIC's id: at most 15 characters, as Linux allows,
    /// and the prefix host adapter discovery leaves out.
    public static func tapName(_ nic: NICID) -> String {
        HostInterfaceScanner.ownPrefix + String(nic.rawValue.filter(\.isHexDigit).prefix(12))
    }

    static func removeStaleSockets(in directory: String) {
        let manager = FileManager.default
        for name in (try? manager.contentsOfDirectory(atPath: directory)) ?? [] where name.hasSuffix(".sock") || name.hasSuffix(".dgram") {
            try? manager.removeItem(atPath: (directory as NSString).appendingPathComponent(name))
        }
    }
}

/// What every loop shares: settings, where to log and store, and one port id counter (a port's
/// id is unique across all switches, so a moved port keeps it).
struct DataplaneServices: @unchecked Sendable {
    let configuration: Dataplane.Configuration
    let logger: Logger
    let clock: any Domain.Clock
    let leaseStore: any LeaseStore
    let operationalEvents: OperationalEvents
    let portIDs: PortIDAllocator
    let hostNetworks: HostNetworkRegistry

    /// Where a NIC's socket is: `<runtime>/<nic id>.vhost`, `.sock` or `.dgram` by its backend
    /// (a TAP has none; its path is never made).
    func socketPath(of nic: VirtualNIC) -> String {
        let suffix = switch nic.backend {
        case .vhostUser: "vhost"
        case .datagram: "dgram"
        case .socket, .tap: "sock"
        }
        return (configuration.runtimeDirectory as NSString).appendingPathComponent("\(nic.id.rawValue).\(suffix)")
    }

    /// Gives a NIC's new socket file to the socket group; a failure leaves the socket working
    /// for vnetd's own group and is logged.
    func shareSocket(of nic: VirtualNIC) {
        guard let group = configuration.socketGroup, nic.backend != .tap else { return }
        let path = socketPath(of: nic)
        do {
            try SocketFile.give(path, toGroup: group)
        } catch {
            logger.warning("the socket of \(nic.label) keeps vnetd's group", metadata: nic.logMetadata(["error": "\(error)"]))
        }
    }
}

final class PortIDAllocator: Sendable {
    private let next = Atomic<UInt32>(1)

    func allocate() -> PortID {
        PortID(next.wrappingAdd(1, ordering: .relaxed).oldValue)
    }
}
