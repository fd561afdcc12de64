import Foundation
import Packets

/// The persistent inventory: networks, VMs, NICs, adapter bindings, and the event log.
///
/// Every change runs inside `write`, which is one database transaction: the closure reads the
/// current state, the service applies its rules to it, writes, and records its event. If the
/// closure throws, nothing it wrote is kept. Writes are serialised, so a rule checked inside
/// `write` (a free name, an unused MAC) still holds when the transaction commits; the schema
/// enforces the same invariants as a second line, and the store reports a violation as the
/// matching `ValidationFailure`.
public protocol InventoryStore: Sendable {
    func read<T>(_ body: (any InventoryReader) throws -> T) throws -> T
    func write<T>(_ body: (any InventoryWriter) throws -> T) throws -> T
}

public protocol InventoryReader {
    func network(_ id: NetworkID) throws -> VirtualNetwork?
    /// The network whose name has this uniqueness key (see `NameRules.uniquenessKey`).
    func network(nameKey: String) throws -> VirtualNetwork?
    func networkCount() throws -> Int
    /// Networks ordered by name.
    func networks(offset: Int, limit: Int) throws -> [NetworkListing]
    func allNetworks() throws -> [VirtualNetwork]
    func networks(usingAdapter name: String) throws -> [VirtualNetwork]

    func vm(_ id: VMID) throws -> VirtualMachine?
    func vm(nameKey: String) throws -> VirtualMachine?
    func vmCount() throws -> Int
    /// VMs ordered by name.
    func vms(offset: Int, limit: Int) throws -> [VMListing]

    func nic(_ id: NICID) throws -> VirtualNIC?
    /// A VM's NICs by slot.
    func nics(of vm: VMID) throws -> [VirtualNIC]
    func nics(on network: NetworkID) throws -> [NICListing]
    /// NICs that are not connected to any network, by VM name and slot.
    func unconnectedNICs() throws -> [NICListing]
    func nic(using mac: MACAddress) throws -> NICListing?
    /// Every NIC of every VM (for the dataplane at start).
    func allNICs() throws -> [VirtualNIC]

    func adapterBindings() throws -> [AdapterBinding]
    func adapterBinding(_ name: String) throws -> AdapterBinding?

    func summary() throws -> InventorySummary

    func dhcpSettings(of network: NetworkID) throws -> DHCPSettings?
    func allDHCPSettings() throws -> [(NetworkID, DHCPSettings)]
    func leases(of network: NetworkID) throws -> [DHCPLease]
    func leases(of mac: MACAddress) throws -> [DHCPLease]

    func portForwards(of network: NetworkID) throws -> [PortForward]
    func allPortForwards() throws -> [PortForward]

    /// A network's storm control (off when none is stored).
    func stormControl(of network: NetworkID) throws -> StormControlSettings
    /// Every network's that is not off (for the dataplane at start).
    func allStormControl() throws -> [(NetworkID, StormControlSettings)]
}

public protocol InventoryWriter: InventoryReader {
    func insert(_ network: VirtualNetwork) throws
    /// Stores `network` if the stored version is still `network.version - 1`; false otherwise.
    func update(_ network: VirtualNetwork) throws -> Bool
    func delete(_ network: NetworkID) throws

    func insert(_ vm: VirtualMachine) throws
    /// Stores `vm` if the stored version is still `vm.version - 1`; false otherwise.
    func update(_ vm: VirtualMachine) throws -> Bool
    func delete(_ vm: VMID) throws

    func insert(_ nic: VirtualNIC) throws
    func update(_ nic: VirtualNIC) throws
    func delete(_ nic: NICID) throws

    func save(_ binding: AdapterBinding) throws
    func append(_ event: Event) throws
    /// Stores settings and their reservations (replacing the stored ones).
    func save(_ settings: DHCPSettings, for network: NetworkID) throws
    /// Returns the new forward's id.
    func insert(_ forward: PortForward) throws -> Int64
    func deletePortForward(_ id: Int64) throws
    func save(_ stormControl: StormControlSettings, for network: NetworkID) throws
    /// Forgets every lease of an adapter that is gone.
    func deleteLeases(of mac: MACAddress) throws
    /// Marks a lease expired at `time` (kept, so its client may ask for the address again);
    /// returns it with its new expiry, or nil when there is none.
    func expireLease(of network: NetworkID, address: IPv4Address, at time: Date) throws -> DHCPLease?
}

/// What the switching core is told after each committed change. Calls come after the
/// transaction commits, in commit order; the dataplane brings its switches and ports in line.
public protocol DataplaneApplying: Sendable {
    func apply(_ change: DataplaneChange)
}

public enum DataplaneChange: Sendable, Equatable {
    case networkAdded(VirtualNetwork)
    case networkChanged(VirtualNetwork)
    case networkRemoved(NetworkID)
    case nicAdded(VirtualNIC)
    /// Connection, MAC or backend changed; a move keeps the NIC's socket or TAP open.
    case nicChanged(VirtualNIC)
    case nicRemoved(NICID)
    case adapterBindingChanged(AdapterBinding)
    /// Only for labels on status pages.
    case vmRenamed(VMID, String)
    case dhcpChanged(NetworkID, DHCPSettings)
    /// An administrator ended a lease (the store already marks it expired): the running server
    /// forgets the binding, so the address is free and its client is NAKed at its next renewal.
    case leaseReleased(NetworkID, IPv4Address)
    /// A network's storm control, as it is now.
    case stormControlChanged(NetworkID, StormControlSettings)
    /// A NAT network's port forwards, all of them as they are now.
    case portForwardsChanged(NetworkID, [PortForward])
}

/// A dataplane that does nothing: used until the switching core runs, and in tests.
public struct NoDataplane: DataplaneApplying {
    public init() {}
    public func apply(_ change: DataplaneChange) {}
}

/// Runtime state that pages show next to stored state.
public protocol RuntimeStatusReading: Sendable {
    func status(of network: NetworkID) -> NetworkRuntimeStatus
    func status(of nic: NICID) -> PortRuntimeStatus
    /// Grows each time the status is published anew; nil when unknown (then a page built from
    /// it must not be reused).
    var publication: UInt64? { get }
}

extension RuntimeStatusReading {
    public var publication: UInt64? { nil }
}

/// Frames and bytes through a port or a whole network, with drops by reason.
public struct TrafficCounters: Sendable, Equatable {
    public var rxFrames: UInt64 = 0
    public var rxBytes: UInt64 = 0
    public var txFrames: UInt64 = 0
    public var txBytes: UInt64 = 0
    /// Reason (as shown) and count, only reasons that happened.
    public var drops: [Drop] = []

    public struct Drop: Sendable, Equatable {
        public var reason: String
        public var count: UInt64
        public init(reason: String, count: UInt64) {
            self.reason = reason
            self.count = count
        }
    }

    public init() {}

    public var droppedTotal: UInt64 { drops.reduce(0) { $0 + $1.count } }
}

/// One second of traffic.
public struct TrafficSample: Sendable, Equatable {
    public var frames: UInt64
    public var bytes: UInt64
    public init(frames: UInt64, bytes: UInt64) {
        self.frames = frames
        self.bytes = bytes
    }
}

public struct NetworkRuntimeStatus: Sendable, Equatable {
    public var isRunning: Bool
    public var detail: String
    public var ports: [PortRuntimeStatus]
    /// Learned addresses, most recently seen first.
    public var addresses: [LearnedAddress]
    public var addressCount: Int
    public var tableCounters: TableCounters
    /// The last 60 seconds, oldest first: what entered the switch from its ports.
    public var history: [TrafficSample]
    /// The last 60 seconds, oldest first: what the switch sent out to its ports.
    public var sentHistory: [TrafficSample] = []
    public var totals: TrafficCounters
    /// The DHCP server's activity, when it is on.
    public var dhcp: DHCPRuntimeStatus?
    /// Host and NAT networks: the host's interface, and (NAT) what vnetd installed in nftables.
    public var hostInterface: HostInterfaceStatus?
    public var nat: NATStatus?
    /// The names the network's DNS server answers, when it serves any.
    public var dns: DNSZoneStatus?

    public init(isRunning: Bool, detail: String, ports: [PortRuntimeStatus] = [], addresses: [LearnedAddress] = [], addressCount: Int = 0,
                tableCounters: TableCounters = TableCounters(), history: [TrafficSample] = [], totals: TrafficCounters = TrafficCounters(),
                dhcp: DHCPRuntimeStatus? = nil) {
        self.dhcp = dhcp
        self.isRunning = isRunning
        self.detail = detail
        self.ports = ports
        self.addresses = addresses
        self.addressCount = addressCount
        self.tableCounters = tableCounters
        self.history = history
        self.totals = totals
    }
}

public struct DHCPRuntimeStatus: Sendable, Equatable {
    public var discovers: UInt64 = 0, offers: UInt64 = 0, acks: UInt64 = 0, naks: UInt64 = 0
    public var declines: UInt64 = 0, releases: UInt64 = 0, informs: UInt64 = 0
    /// Clients that found no free address (once per client and offer hold, not per retry).
    public var exhausted: UInt64 = 0
    /// Malformed DHCP messages dropped, and requests from the LAN ignored.
    public var malformed: UInt64 = 0, ignoredFromLAN: UInt64 = 0
    /// Addresses the ARP probe found in use; reservations that could not be granted.
    public var conflicts: UInt64 = 0, reservationFallbacks: UInt64 = 0
    /// Requests a VM port made for another NIC's hardware address (or through a relay) and new
    /// clients refused because their port held its share of bindings.
    public var foreignHardware: UInt64 = 0, overLimit: UInt64 = 0
    /// DISCOVERs left unanswered while the server was behind (the client retransmits).
    public var shed: UInt64 = 0
    /// Addresses in use now (leases and offers) and the pool's size, for "nearly full".
    public var addressesInUse = 0, poolSize = 0
    public init() {}
}

/// What a network's DNS server answers and how much it was asked: the zone's names (at most
/// `DNSZoneStatus.listLimit`, sorted) and the counters of both ways it answers (inside the switch,
/// and the host interface's server on host and NAT networks).
public struct DNSZoneStatus: Sendable, Equatable {
    public static let listLimit = 200

    public struct Name: Sendable, Equatable {
        /// Fully qualified, without the final dot: `web.lab.vnetd.internal`.
        public var name: String
        public var addresses: [String]
        public init(name: String, addresses: [String]) {
            self.name = name
            self.addresses = addresses
        }
    }

    public var domain: String
    public var names: [Name]
    public var nameCount: Int
    /// Names of VMs, leases or reservations that are no DNS name (left out of the zone).
    public var skippedNames: [String]
    public var queries: UInt64 = 0
    /// Queries from outside the network's own addresses, dropped (no open resolver).
    public var outsideQueries: UInt64 = 0
    /// NAT networks: names sent to the upstream resolvers, answered from the cache, failed upstream.
    public var forwarded: UInt64 = 0, cached: UInt64 = 0, upstreamFailures: UInt64 = 0
    public var forwardsOutside: Bool

    public init(domain: String, names: [Name], nameCount: Int, skippedNames: [String] = [], forwardsOutside: Bool = false) {
        self.domain = domain
        self.names = names
        self.nameCount = nameCount
        self.skippedNames = skippedNames
        self.forwardsOutside = forwardsOutside
    }
}

public struct TableCounters: Sendable, Equatable {
    public var learned: UInt64 = 0
    public var moved: UInt64 = 0
    public var expired: UInt64 = 0
    public var evicted: UInt64 = 0
    public init() {}
}

public struct LearnedAddress: Sendable, Equatable {
    public var mac: MACAddress
    /// The port's label: "web, adapter 1" or "uplink eth0".
    public var port: String
    public var ageSeconds: Int
    public init(mac: MACAddress, port: String, ageSeconds: Int) {
        self.mac = mac
        self.port = port
        self.ageSeconds = ageSeconds
    }
}

public struct PortRuntimeStatus: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case nic(NICID)
        case uplink(adapter: String)
    }

    public var kind: Kind?
    public var isAttached: Bool
    public var detail: String
    /// Where the VM attaches: the socket path or the TAP interface name.
    public var endpoint: String?
    public var counters: TrafficCounters
    /// IPv6 addresses the NIC was seen claiming on its network (its DAD probes and neighbour
    /// advertisements, as text), newest last; empty until one is seen.
    public var ipv6Addresses: [String] = []

    public init(kind: Kind? = nil, isAttached: Bool, detail: String, endpoint: String? = nil, counters: TrafficCounters = TrafficCounters()) {
        self.kind = kind
        self.isAttached = isAttached
        self.detail = detail
        self.endpoint = endpoint
        self.counters = counters
    }
}

/// Status while no switching core runs.
public struct NotRunningStatus: RuntimeStatusReading {
    public init() {}
    public func status(of network: NetworkID) -> NetworkRuntimeStatus {
        NetworkRuntimeStatus(isRunning: false, detail: "The switching core is not running.")
    }
    public func status(of nic: NICID) -> PortRuntimeStatus {
        PortRuntimeStatus(isAttached: false, detail: "Not running")
    }
}

/// The host's network adapters as the kernel reports them now.
public protocol AdapterDiscovering: Sendable {
    func presentAdapters() -> [DiscoveredAdapter]
}

public struct DiscoveredAdapter: Sendable, Equatable {
    public var name: String
    public var mac: MACAddress?
    public var isUp: Bool
    public var hasCarrier: Bool
    public var speedMbps: Int?
    public var isWireless: Bool
    /// A bridge with vnetd's own TAP devices among its ports: an uplink on it would loop.
    public var holdsVnetdPorts: Bool

    public init(name: String, mac: MACAddress?, isUp: Bool, hasCarrier: Bool, speedMbps: Int?, isWireless: Bool, holdsVnetdPorts: Bool = false) {
        self.name = name
        self.mac = mac
        self.isUp = isUp
        self.hasCarrier = hasCarrier
        self.speedMbps = speedMbps
        self.isWireless = isWireless
        self.holdsVnetdPorts = holdsVnetdPorts
    }
}

/// A fixed list of adapters, for tests and for hosts where discovery is not available.
public struct FixedAdapters: AdapterDiscovering {
    public let adapters: [DiscoveredAdapter]
    public init(_ adapters: [DiscoveredAdapter]) { self.adapters = adapters }
    public func presentAdapters() -> [DiscoveredAdapter] { adapters }
}

/// A number that grows with every committed change to stored state (inventory or events).
/// Pages that show only stored state can reuse what they rendered for the same number.
public protocol ChangeTracking: Sendable {
    var generation: UInt64 { get }
}

extension InventoryReader {
    /// Names of the networks some adapters are connected to, for pages that list a VM's adapters.
    public func networkNames(for nics: [VirtualNIC]) throws -> [NetworkID: String] {
        try Dictionary(uniqueKeysWithValues: Set(nics.compactMap(\.networkID)).compactMap { id in
            try network(id).map { (id, $0.name) }
        })
    }
}
