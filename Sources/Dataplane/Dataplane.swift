import Domain
import Foundation
import HostNet
import Logging
import DHCP
import Packets
import Switching
import Synchronization

/// The running switches: one `VirtualSwitch` per virtual network, one port per VM network
/// adapter, one uplink per external network whose adapter is bound and present.
///
/// Threading: everything below `// Loop-thread state` is touched only on the event loop's thread.
/// Domain changes arrive through `apply` from request threads and are posted to the loop in
/// commit order. Pages read a status snapshot the loop publishes after every change and every
/// second, so a page never waits for the data path.
///
/// A NIC's backend (socket or TAP) lives as long as the NIC and its backend kind: connecting,
/// disconnecting and moving it between networks only changes which switch its port belongs to.
public final class Dataplane: DataplaneApplying, RuntimeStatusReading, @unchecked Sendable {
    public struct Configuration: Sendable {
        /// Folder for the QEMU sockets; created if missing, stale sockets removed at start.
        public var runtimeDirectory: String
        public var macTableCapacity: Int
        /// Milliseconds.
        public var agingTime: Int64

        public init(runtimeDirectory: String, macTableCapacity: Int = 8192, agingTime: Int64 = 300_000) {
            self.runtimeDirectory = runtimeDirectory
            self.macTableCapacity = macTableCapacity
            self.agingTime = agingTime
        }
    }

    let configuration: Configuration
    let loop: EventLoop
    let logger: Logger
    let clock: any Domain.Clock
    let snapshot = Mutex(StatusSnapshot())
    /// Where port, uplink and DHCP transitions are recorded as events (see `Dataplane+Events`).
    public let operationalEvents = OperationalEvents()
    private(set) var persister: LeasePersister!
    let leaseStore: any LeaseStore

    // Loop-thread state.
    var networks: [NetworkID: VirtualNetwork] = [:]
    var switches: [NetworkID: VirtualSwitch] = [:]
    var bindings: [String: Bool] = [:]
    var nics: [NICID: NICPort] = [:]
    var uplinks: [NetworkID: Uplink] = [:]
    var vmNames: [VMID: String] = [:]
    var endpoints: [NetworkID: DHCPEndpoint] = [:]
    var nextPort: UInt32 = 1
    var ticks = 0
    var publishPending = false
    var lastPublished: Int64 = 0
    static let publishInterval: Int64 = 100

    final class NICPort {
        var nic: VirtualNIC
        let id: PortID
        var backend: IOPort?
        /// The network whose switch the port is a member of now. It can differ from
        /// `nic.networkID` while a change is applied, so leaving always uses this.
        var memberOf: NetworkID?
        var failure: String?
        /// Counters and history carried across backend changes within one network; a move to
        /// another network starts them again, so that network's totals and chart hold only its traffic.
        var counters = PortCounters()
        var history = TrafficHistory()
        var countedOn: NetworkID?

        init(nic: VirtualNIC, id: PortID) {
            self.nic = nic
            self.id = id
        }
    }

    final class Uplink {
        let adapter: String
        let id: PortID
        var port: PacketSocketPort?
        var failure: String?

        init(adapter: String, id: PortID) {
            self.adapter = adapter
            self.id = id
        }
    }

    public init(configuration: Configuration, leaseStore: any LeaseStore, clock: any Domain.Clock, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        self.clock = clock
        self.leaseStore = leaseStore
        try FileManager.default.createDirectory(
            atPath: configuration.runtimeDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        Self.removeStaleSockets(in: configuration.runtimeDirectory)
        loop = try EventLoop(logger: logger)
        loop.tick = { [unowned self] now in tick(now) }
        persister = LeasePersister(
            store: leaseStore,
            deliver: { [unowned self] replies in loop.post { [self] in deliverStoredReplies(replies) } },
            report: { [logger] error in logger.error("could not store DHCP leases; their ACKs are not sent", metadata: ["error": "\(error)"]) })
        loop.start(name: "vnetd-dataplane")
    }

    /// Builds every switch and port from the stored configuration.
    public func start(networks: [VirtualNetwork], nics: [VirtualNIC], bindings: [AdapterBinding], vmNames: [VMID: String],
                      dhcp: [(NetworkID, DHCPSettings)] = []) {
        loop.post { [self] in
            self.vmNames = vmNames
            for binding in bindings { self.bindings[binding.name] = binding.isBound }
            for network in networks { addNetwork(network) }
            for nic in nics { addNIC(nic) }
            for (network, settings) in dhcp { changeDHCP(network, settings) }
            publish()
        }
    }

    public func apply(_ change: DataplaneChange) {
        loop.post { [self] in
            switch change {
            case .networkAdded(let network): addNetwork(network)
            case .networkChanged(let network): changeNetwork(network)
            case .networkRemoved(let id): removeNetwork(id)
            case .nicAdded(let nic): addNIC(nic)
            case .nicChanged(let nic): changeNIC(nic)
            case .nicRemoved(let id): removeNIC(id)
            case .adapterBindingChanged(let binding): changeBinding(binding)
            case .vmRenamed(let id, let name): vmNames[id] = name
            case .dhcpChanged(let id, let settings): changeDHCP(id, settings)
            case .leaseReleased(let id, let address): endpoints[id]?.revoke(address)
            }
            switch change {
            case .nicAdded, .nicChanged, .nicRemoved, .vmRenamed, .networkChanged: refreshNames()
            default: break
            }
            publishSoon()
        }
    }

    /// The data path thread's kernel id: its CPU time is in /proc/self/task/<id>/stat.
    public var threadID: Int32 { loop.threadID }

    /// Waits until every change applied so far has taken effect (tests, clean shutdown).
    public func settle() {
        loop.sync { [self] in publish() }
    }

    /// Closes every port and socket, removes the socket files, and stops the loop thread.
    /// The lease writer stops first, while the loop still runs: the replies it has stored go out
    /// (or are dropped with their ports) instead of being posted to a closed loop.
    public func shutdown() {
        persister.stop()
        loop.sync { [self] in
            for port in nics.values { port.backend?.close() }
            for uplink in uplinks.values { uplink.port?.close() }
            nics.removeAll()
            uplinks.removeAll()
            endpoints.removeAll()
            switches.removeAll()
        }
        loop.stop()
    }

    // MARK: status

    public func status(of network: NetworkID) -> NetworkRuntimeStatus {
        snapshot.withLock { $0.networks[network] }
            ?? NetworkRuntimeStatus(isRunning: false, detail: "Starting…")
    }

    public func status(of nic: NICID) -> PortRuntimeStatus {
        snapshot.withLock { $0.ports[nic] } ?? PortRuntimeStatus(isAttached: false, detail: "Starting…")
    }

    // MARK: changes, on the loop thread

    private func addNetwork(_ network: VirtualNetwork) {
        networks[network.id] = network
        if switches[network.id] == nil {
            switches[network.id] = VirtualSwitch(
                name: network.name, macTableCapacity: configuration.macTableCapacity, agingTime: configuration.agingTime)
        }
        syncUplink(network.id)
    }

    private func changeNetwork(_ network: VirtualNetwork) {
        networks[network.id] = network
        if switches[network.id] == nil { addNetwork(network) }
        syncUplink(network.id)
        if let endpoint = endpoints[network.id] {
            endpoint.networkName = network.name
            endpoint.update(endpoint.settings, authoritative: Self.isAuthoritative(network))
        }
    }

    /// The built-in server is the only one on a network without an uplink; beside a LAN it
    /// leaves clients it does not know to the LAN's servers.
    static func isAuthoritative(_ network: VirtualNetwork?) -> Bool {
        network?.kind.adapterName == nil
    }

    private func removeNetwork(_ id: NetworkID) {
        for port in nics.values where port.memberOf == id || port.nic.networkID == id {
            leaveSwitch(port)
            port.nic.networkID = nil
        }
        closeUplink(id)
        endpoints[id] = nil
        switches[id] = nil
        networks[id] = nil
    }

    private func addNIC(_ nic: VirtualNIC) {
        guard nics[nic.id] == nil else { return changeNIC(nic) }
        let port = NICPort(nic: nic, id: allocatePortID())
        nics[nic.id] = port
        openBackend(port)
        joinSwitch(port)
    }

    private func changeNIC(_ nic: VirtualNIC) {
        guard let port = nics[nic.id] else { return addNIC(nic) }
        let old = port.nic
        port.nic = nic
        // A different backend kind, or a lost one, needs a new descriptor; anything else keeps it.
        if old.backend != nic.backend || port.backend == nil || isLost(port.backend) {
            leaveSwitch(port)
            port.backend?.close()
            port.backend = nil
            openBackend(port)
            joinSwitch(port)
        } else if port.memberOf != nic.networkID {
            leaveSwitch(port)
            joinSwitch(port)
        } else if old.mac != nic.mac || old.allowsMACSpoofing != nic.allowsMACSpoofing {
            // Same switch, new identity: the pin moves to the new MAC, the spoofing check follows.
            if let network = port.memberOf, let backend = port.backend {
                switches[network]?.attach(port.id, sink: backend, role: Self.role(of: nic))
                refreshUplinkFilter(network)
            }
        }
        if old.mac != nic.mac, let tap = port.backend as? TAPPort {
            tap.setAddress(nic.mac.octets)
        }
    }

    static func role(of nic: VirtualNIC) -> PortRole {
        .vm(mac: nic.mac, allowsSpoofing: nic.allowsMACSpoofing)
    }

    private func removeNIC(_ id: NICID) {
        guard let port = nics.removeValue(forKey: id) else { return }
        leaveSwitch(port)
        port.backend?.close()
        // The domain deleted its stored leases in the same transaction; free the addresses here.
        for endpoint in endpoints.values { _ = endpoint.server.forget(port.nic.mac) }
    }

    private func changeBinding(_ binding: AdapterBinding) {
        bindings[binding.name] = binding.isBound
        for network in networks.values where network.kind.adapterName == binding.name {
            syncUplink(network.id)
        }
    }

    // MARK: ports and switches

    func allocatePortID() -> PortID {
        defer { nextPort += 1 }
        return PortID(nextPort)
    }

    private func isLost(_ backend: IOPort?) -> Bool {
        if case .unavailable = backend?.state { return true }
        return false
    }

    private func openBackend(_ port: NICPort) {
        let nic = port.nic
        do {
            switch nic.backend {
            case .socket:
                port.backend = try StreamSocketPort(id: port.id, loop: loop, path: socketPath(nic, suffix: "sock"))
            case .datagram:
                port.backend = try DatagramSocketPort(id: port.id, loop: loop, path: socketPath(nic, suffix: "dgram"))
            case .tap:
                let tap = try TAPPort(id: port.id, loop: loop, interfaceName: Self.tapName(nic.id))
                tap.setAddress(nic.mac.octets)
                port.backend = tap
            }
            port.failure = nil
        } catch {
            port.failure = error.isPermissionDenied
                ? (nic.backend == .tap
                    ? "Needs CAP_NET_ADMIN: run vnetd as root, or give it the capability (setcap cap_net_admin,cap_net_raw+ep), to create TAP devices."
                    : "Permission denied for \(socketPath(nic, suffix: "sock")).")
                : "Could not be created: \(error)."
            logger.warning("port for \(nic.label) unavailable", metadata: ["error": "\(error)"])
        }
    }

    private func joinSwitch(_ port: NICPort) {
        if port.memberOf != nil { leaveSwitch(port) }
        guard let network = port.nic.networkID, let fabric = switches[network], let backend = port.backend else { return }
        if port.countedOn != network {
            port.counters = PortCounters()
            port.history = TrafficHistory()
            port.countedOn = network
        }
        fabric.attach(port.id, sink: backend, role: Self.role(of: port.nic), counters: port.counters, history: port.history)
        port.memberOf = network
        backend.fabric = fabric
        refreshUplinkFilter(network)
    }

    /// Leaves the switch the port is really in, whatever the NIC's new settings say.
    private func leaveSwitch(_ port: NICPort) {
        guard let id = port.memberOf else { return }
        port.memberOf = nil
        port.backend?.fabric = nil
        guard let fabric = switches[id] else { return }
        if let (counters, history) = fabric.detach(port.id) {
            port.counters = counters
            port.history = history
        }
        refreshUplinkFilter(id)
    }

    private func tick(_ now: Int64) {
        for fabric in switches.values { fabric.tick(now: now) }
        if ticks % 10 == 0 { for endpoint in endpoints.values { endpoint.tick() } }
        for uplink in uplinks.values { uplink.port?.refreshStatistics() }
        ticks += 1
        if ticks % 5 == 0 {
            // Uplinks whose adapter was missing or down: try again.
            for (network, uplink) in uplinks where uplink.port?.isOpen != true {
                openUplink(uplink, network: network)
            }
        }
        publish()
    }

    func socketPath(_ nic: VirtualNIC, suffix: String) -> String {
        (configuration.runtimeDirectory as NSString).appendingPathComponent("\(nic.id.rawValue).\(suffix)")
    }

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
