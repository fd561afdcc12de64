import Packets

/// What the server reports and returns.
extension RFC2131Server {
    public struct Counters: Sendable, Equatable {
        public var discovers: UInt64 = 0, offers: UInt64 = 0, requests: UInt64 = 0, acks: UInt64 = 0, naks: UInt64 = 0
        public var declines: UInt64 = 0, releases: UInt64 = 0, informs: UInt64 = 0, ignored: UInt64 = 0
        /// Clients that found no free address (each counted once per offer hold, not per retry).
        public var exhausted: UInt64 = 0
        /// Addresses a probe found in use by a host the server did not give them to.
        public var conflicts: UInt64 = 0
        /// Reservations that could not be granted, so a dynamic address was offered instead.
        public var reservationFallbacks: UInt64 = 0
        /// New clients refused because their port already holds its share of bindings.
        public var overLimit: UInt64 = 0
        public init() {}
    }

    /// Where a request came from: the switch port, and how many bindings it may hold.
    public struct Origin: Sendable, Equatable {
        public var port: UInt32
        public var bindingLimit: Int
        public init(port: UInt32, bindingLimit: Int) {
            self.port = port
            self.bindingLimit = bindingLimit
        }
    }

    /// Things an administrator should hear about; the caller rate-limits them.
    public enum Notice: Sendable, Equatable {
        case poolExhausted(MACAddress)
        case declined(IPv4Address, by: MACAddress)
        case conflict(IPv4Address, heardFrom: MACAddress)
        case reservationUnavailable(IPv4Address, for: MACAddress)
        case bindingLimit(port: UInt32)
    }

    /// A reply and where it goes.
    public struct Reply: Sendable, Equatable {
        public var message: DHCPMessage
        public var destinationMAC: MACAddress
        public var destinationIP: IPv4Address
        /// True when the reply goes to a relay agent (at giaddr, UDP port 67, the agent's MAC).
        public var toRelay: Bool = false
        /// The address the reply comes from: the server's, or a former one being retired.
        public var sourceIP: IPv4Address
    }

    /// What handling a message produced: lease changes to store first, then a reply to send
    /// (after probing `probe` when set).
    public struct Outcome: Sendable, Equatable {
        public var reply: Reply?
        public var changes: [LeaseChange] = []
        public var probe: IPv4Address?
        public var notices: [Notice] = []

        public init(reply: Reply? = nil, changes: [LeaseChange] = [], probe: IPv4Address? = nil) {
            self.reply = reply
            self.changes = changes
            self.probe = probe
        }
    }
}
