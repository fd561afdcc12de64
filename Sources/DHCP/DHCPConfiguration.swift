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
    /// Option 15 (and the first search domain when no list is given).
    public var domainName: String?
    /// Option 119, in order.
    public var searchDomains: [String]
    /// Option 121 (and 249 for older Windows); when set, clients ignore option 3, so the default
    /// route goes in here too (RFC 3442 §4).
    public var classlessRoutes: [ClasslessRoute]
    /// Option 26.
    public var mtu: UInt16?
    /// Option 42.
    public var ntpServers: [IPv4Address]
    /// Next server and boot files for PXE ROMs and iPXE; nil: no network boot.
    public var boot: NetworkBoot?
    /// True on a network where this server is the only one (guest-only, host, NAT): it NAKs
    /// requests for addresses it cannot grant even from clients it has no record of. False on an
    /// external network, where a client it does not know may hold a LAN server's lease.
    public var isAuthoritative: Bool

    public struct ClasslessRoute: Sendable, Equatable {
        public var destination: IPv4Address
        public var prefixLength: Int
        public var router: IPv4Address
        public init(destination: IPv4Address, prefixLength: Int, router: IPv4Address) {
            self.destination = destination
            self.prefixLength = prefixLength
            self.router = router
        }
    }

    /// What a booting VM is told. PXE ROMs get `biosFile` or `uefiFile` by their architecture
    /// (option 93) from `nextServer` (siaddr, option 66); iPXE (user class "iPXE", option 77)
    /// gets `ipxeFile`, typically an HTTP URL of a script, so it does not load itself again.
    public struct NetworkBoot: Sendable, Equatable {
        public var nextServer: IPv4Address?
        public var biosFile: String?
        public var uefiFile: String?
        public var ipxeFile: String?
        public init(nextServer: IPv4Address? = nil, biosFile: String? = nil, uefiFile: String? = nil, ipxeFile: String? = nil) {
            self.nextServer = nextServer
            self.biosFile = biosFile
            self.uefiFile = uefiFile
            self.ipxeFile = ipxeFile
        }
    }

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
                reservations: [MACAddress: Reservation] = [:], domainName: String? = nil, searchDomains: [String] = [],
                classlessRoutes: [ClasslessRoute] = [], mtu: UInt16? = nil, ntpServers: [IPv4Address] = [], boot: NetworkBoot? = nil,
                isAuthoritative: Bool = true) {
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
        self.domainName = domainName
        self.searchDomains = searchDomains
        self.classlessRoutes = classlessRoutes
        self.mtu = mtu
        self.ntpServers = ntpServers
        self.boot = boot
        self.isAuthoritative = isAuthoritative
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
    /// Set aside until the time given (seconds since 1970): declined, or found in use.
    case held(IPv4Address, until: Int64)
}
