import Foundation
import Packets

/// A virtual network: a switch that VMs' network adapters plug into.
public struct VirtualNetwork: Sendable, Equatable {
    public var id: NetworkID
    public var name: String
    public var kind: NetworkKind
    public var notes: String
    public var createdAt: Date
    public var changedAt: Date
    /// Raised by every saved change; a save from a form that saw an older version is refused.
    public var version: Int
    /// Host and NAT networks: the host's interface on the network (kept, unused, on other kinds).
    public var hostInterface: HostInterfaceSettings

    public init(id: NetworkID, name: String, kind: NetworkKind, notes: String, createdAt: Date, changedAt: Date, version: Int = 1,
                hostInterface: HostInterfaceSettings = HostInterfaceSettings()) {
        self.hostInterface = hostInterface
        self.id = id
        self.name = name
        self.kind = kind
        self.notes = notes
        self.createdAt = createdAt
        self.changedAt = changedAt
        self.version = version
    }
}

public enum NetworkKind: Sendable, Equatable, Hashable {
    /// "None (Guest Only)": VMs on it reach only each other.
    case guestOnly
    /// Bound to a host adapter, by interface name: VMs appear on that adapter's LAN.
    case external(adapter: String)
    /// "Host and guests": the host has an interface on the network; nothing is forwarded beyond it.
    case host
    /// A host network whose VMs also reach the outside, masqueraded out of the default route's
    /// interface, or out of `outbound` when the administrator chose one.
    case nat(outbound: String?)

    /// The bound adapter of an external network (never a NAT network's outbound adapter).
    public var adapterName: String? {
        if case .external(let adapter) = self { return adapter }
        return nil
    }

    /// Host and NAT networks: vnetd gives the host an interface on them.
    public var hasHostInterface: Bool {
        switch self {
        case .host, .nat: true
        case .guestOnly, .external: false
        }
    }

    public var isNAT: Bool {
        if case .nat = self { return true }
        return false
    }

    /// A NAT network's chosen outbound adapter; nil also for "the default route's interface".
    public var natOutbound: String? {
        if case .nat(let outbound) = self { return outbound }
        return nil
    }
}

/// A host network adapter as vnetd sees it: what the kernel reports now, and whether its
/// Virtual Machine Network Services binding is on.
public struct HostAdapter: Sendable, Equatable {
    public var name: String
    public var mac: MACAddress?
    public var isUp: Bool
    public var hasCarrier: Bool
    /// Megabits per second, when the driver reports it.
    public var speedMbps: Int?
    public var isWireless: Bool
    /// False for an adapter that was bound once and is gone now (unplugged, renamed, removed).
    public var isPresent: Bool
    public var isBound: Bool

    public init(name: String, mac: MACAddress?, isUp: Bool, hasCarrier: Bool, speedMbps: Int?, isWireless: Bool, isPresent: Bool, isBound: Bool) {
        self.name = name
        self.mac = mac
        self.isUp = isUp
        self.hasCarrier = hasCarrier
        self.speedMbps = speedMbps
        self.isWireless = isWireless
        self.isPresent = isPresent
        self.isBound = isBound
    }
}

/// The stored half of a host adapter: its binding switch.
public struct AdapterBinding: Sendable, Equatable {
    public var name: String
    public var mac: MACAddress?
    public var isBound: Bool

    public init(name: String, mac: MACAddress?, isBound: Bool) {
        self.name = name
        self.mac = mac
        self.isBound = isBound
    }
}

public struct VirtualMachine: Sendable, Equatable {
    public var id: VMID
    public var name: String
    public var notes: String
    public var createdAt: Date
    public var changedAt: Date
    /// Raised by every saved change to the VM or its network adapters.
    public var version: Int

    public init(id: VMID, name: String, notes: String, createdAt: Date, changedAt: Date, version: Int = 1) {
        self.id = id
        self.name = name
        self.notes = notes
        self.createdAt = createdAt
        self.changedAt = changedAt
        self.version = version
    }
}

/// How a network adapter's port is provided to the VM.
public enum NICBackend: String, Sendable, CaseIterable {
    /// A vhost-user socket QEMU connects to with `-netdev vhost-user`: the guest's virtio rings
    /// in memory shared with vnetd, the fast path for QEMU VMs (first, so pages offer it first).
    case vhostUser = "vhost-user"
    /// A unix socket QEMU connects to with `-netdev stream`.
    case socket
    /// A unix datagram socket for QEMU's `-netdev dgram`.
    case datagram = "dgram"
    /// A TAP interface, which can be moved into a network namespace.
    case tap
}

public enum MACAssignment: Sendable, Equatable {
    /// Allocated by vnetd under 00:03:FF, never one in use.
    case dynamic
    /// Chosen by the administrator; must be a unicast address no other adapter uses.
    case `static`
}

/// One of a VM's up to four virtual network adapters.
public struct VirtualNIC: Sendable, Equatable {
    public var id: NICID
    public var vmID: VMID
    /// 1 to 4: "Virtual network adapter N".
    public var slot: Int
    /// nil when "Not connected".
    public var networkID: NetworkID?
    public var assignment: MACAssignment
    /// The address in use: allocated (dynamic) or chosen (static).
    public var mac: MACAddress
    public var backend: NICBackend
    /// Hyper-V's "Allow MAC address spoofing": frames from this NIC may carry other source
    /// addresses (a bridge or nested VMs inside the guest). Off: the switch drops them, counted.
    public var allowsMACSpoofing: Bool

    public init(id: NICID, vmID: VMID, slot: Int, networkID: NetworkID?, assignment: MACAssignment, mac: MACAddress, backend: NICBackend = .socket,
                allowsMACSpoofing: Bool = false) {
        self.id = id
        self.vmID = vmID
        self.slot = slot
        self.networkID = networkID
        self.assignment = assignment
        self.mac = mac
        self.backend = backend
        self.allowsMACSpoofing = allowsMACSpoofing
    }
}

/// A NIC with the names pages show next to it.
public struct NICListing: Sendable, Equatable {
    public var nic: VirtualNIC
    public var vmName: String
    public var networkName: String?

    public init(nic: VirtualNIC, vmName: String, networkName: String?) {
        self.nic = nic
        self.vmName = vmName
        self.networkName = networkName
    }
}

/// A network with what the list page shows about it.
public struct NetworkListing: Sendable, Equatable {
    public var network: VirtualNetwork
    public var connectedNICs: Int

    public init(network: VirtualNetwork, connectedNICs: Int) {
        self.network = network
        self.connectedNICs = connectedNICs
    }
}

public struct VMListing: Sendable, Equatable {
    public var vm: VirtualMachine
    public var nics: Int
    public var connectedNICs: Int

    public init(vm: VirtualMachine, nics: Int, connectedNICs: Int) {
        self.vm = vm
        self.nics = nics
        self.connectedNICs = connectedNICs
    }
}
