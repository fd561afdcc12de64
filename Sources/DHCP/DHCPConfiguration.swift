import Packets

/// What a network's DHCP server hands out. Validated by the domain before it gets here.
public struct DHCPConfiguration: Sendable, Equatable {
    public var network: IPv4Address
    public var mask: IPv4Address
    public var rangeStart: IPv4Address
    public var rangeEnd: IPv4Address
    public var server: IPv4Address
    public var gateway: IPv4Address?
    public var dnsServers: [IPv4Address]
    public var winsServers: [IPv4Address]
    /// Seconds.
    public var leaseTime: UInt32
    public var renewalTime: UInt32
    public var rebindingTime: UInt32
    public var reservations: [MACAddress: Reservation]

    public struct Reservation: Sendable, Equatable {
        public var address: IPv4Address
        public var hostName: String?
        public init(address: IPv4Address, hostName: String?) {
            self.address = address
            self.hostName = hostName
        }
    }

    public init(network: IPv4Address, mask: IPv4Address, rangeStart: IPv4Address, rangeEnd: IPv4Address, server: IPv4Address,
                gateway: IPv4Address? = nil, dnsServers: [IPv4Address] = [], winsServers: [IPv4Address] = [],
                leaseTime: UInt32 = 86_400, renewalTime: UInt32 = 43_200, rebindingTime: UInt32 = 75_600,
                reservations: [MACAddress: Reservation] = [:]) {
        self.network = network
        self.mask = mask
        self.rangeStart = rangeStart
        self.rangeEnd = rangeEnd
        self.server = server
        self.gateway = gateway
        self.dnsServers = dnsServers
        self.winsServers = winsServers
        self.leaseTime = leaseTime
        self.renewalTime = renewalTime
        self.rebindingTime = rebindingTime
        self.reservations = reservations
    }

    public func contains(_ address: IPv4Address) -> Bool {
        address.value & mask.value == network.value & mask.value
    }

    public func inRange(_ address: IPv4Address) -> Bool {
        address >= rangeStart && address <= rangeEnd
    }

    var reservedAddresses: [IPv4Address: MACAddress] {
        Dictionary(reservations.map { ($0.value.address, $0.key) }, uniquingKeysWith: { first, _ in first })
    }
}

/// A lease as stored: who holds which address until when.
public struct Lease: Sendable, Equatable {
    public var address: IPv4Address
    public var mac: MACAddress
    /// Option 61 when the client sent one, else empty (the MAC identifies it).
    public var clientID: [UInt8]
    public var hostName: String?
    /// Seconds since 1970.
    public var expires: Int64

    public init(address: IPv4Address, mac: MACAddress, clientID: [UInt8], hostName: String?, expires: Int64) {
        self.address = address
        self.mac = mac
        self.clientID = clientID
        self.hostName = hostName
        self.expires = expires
    }
}

/// What must be stored before a reply goes out (an ACK only after its lease is durable).
public enum LeaseChange: Sendable, Equatable {
    case bound(Lease)
    case released(IPv4Address)
}
