import Packets

/// A DHCP server for one virtual network, by RFC 2131, with no I/O and no clock of its own.
///
/// Client identity: option 61 when present, else the hardware address. Address choice for a
/// DISCOVER: the client's reservation; else the address it holds or held; else the one it asks
/// for (option 50) when free and in range; else the next free address after the last one handed
/// out (round robin: a released address is not handed straight to another client). An offer
/// holds its address for `offerHold` seconds. REQUEST is answered by the client's state (§4.3.2):
/// SELECTING (server identifier present), INIT-REBOOT (option 50, no ciaddr), RENEWING (ciaddr,
/// unicast) and REBINDING (ciaddr, broadcast). DECLINE puts the address aside for
/// `declineHold` seconds; RELEASE frees it; INFORM answers options without a lease. Requests for
/// another server are ignored. A request relayed by an agent inside this network (giaddr in it) is
/// answered to the agent on port 67; one relayed from elsewhere is not this server's to answer.
public final class RFC2131Server {
    public private(set) var configuration: DHCPConfiguration
    public let offerHold: Int64 = 60
    public let declineHold: Int64 = 600
    public private(set) var counters = Counters()

    private struct Binding {
        var lease: Lease
        var isOffer: Bool
    }

    private var byAddress: [IPv4Address: Binding] = [:]
    private var byClient: [[UInt8]: IPv4Address] = [:]
    private var declined: [IPv4Address: Int64] = [:]

    public struct Counters: Sendable, Equatable {
        public var discovers: UInt64 = 0, offers: UInt64 = 0, requests: UInt64 = 0, acks: UInt64 = 0, naks: UInt64 = 0
        public var declines: UInt64 = 0, releases: UInt64 = 0, informs: UInt64 = 0, ignored: UInt64 = 0
        /// A DISCOVER found no free address.
        public var exhausted: UInt64 = 0
        public init() {}
    }

    /// A reply and where it goes.
    public struct Reply: Sendable, Equatable {
        public var message: DHCPMessage
        public var destinationMAC: MACAddress
        public var destinationIP: IPv4Address
        /// True when the reply goes to a relay agent (at giaddr, UDP port 67, the agent's MAC).
        public var toRelay: Bool = false
    }

    /// What handling a message produced: a lease change to store first, then a reply to send.
    public struct Outcome: Sendable, Equatable {
        public var reply: Reply?
        public var change: LeaseChange?

        public init(reply: Reply? = nil, change: LeaseChange? = nil) {
            self.reply = reply
            self.change = change
        }
    }

    public init(configuration: DHCPConfiguration, leases: [Lease] = []) {
        self.configuration = configuration
        for lease in leases { bind(lease, isOffer: false) }
    }

    /// A new configuration keeps every lease; those outside the new range end at their next
    /// renewal (answered with NAK).
    public func update(_ configuration: DHCPConfiguration) {
        self.configuration = configuration
    }

    /// Forgets every lease and offer of an adapter that was removed; returns the addresses freed.
    public func forget(_ mac: MACAddress) -> [IPv4Address] {
        let gone = byAddress.filter { $0.value.lease.mac == mac }.map(\.key)
        gone.forEach(unbind)
        return gone
    }

    /// Ends a lease an administrator released: the address is free at once and its client, no
    /// longer on record, is NAKed when it renews.
    public func revoke(_ address: IPv4Address) {
        unbind(address)
    }

    /// Bound leases, for status pages.
    public func leases(now: Int64) -> [Lease] {
        byAddress.values.filter { !$0.isOffer && $0.lease.expires > now }.map(\.lease).sorted { $0.address < $1.address }
    }

    public func handle(_ request: DHCPMessage, arrivedAsBroadcast: Bool, now: Int64) -> Outcome {
        guard request.op == 1, let type = request.messageType,
              request.relayAddress == .any || configuration.contains(request.relayAddress) else {
            counters.ignored &+= 1
            return Outcome()
        }
        var outcome = dispatch(type, request, broadcast: arrivedAsBroadcast, now: now)
        if request.relayAddress != .any, var reply = outcome.reply {
            reply.message.relayAddress = request.relayAddress
            reply.destinationIP = request.relayAddress
            reply.toRelay = true
            outcome.reply = reply
        }
        return outcome
    }

    private func dispatch(_ type: DHCPMessageType, _ request: DHCPMessage, broadcast arrivedAsBroadcast: Bool, now: Int64) -> Outcome {
        switch type {
        case .discover: return Outcome(reply: discover(request, now: now))
        case .request: return handleRequest(request, broadcast: arrivedAsBroadcast, now: now)
        case .decline: return Outcome(change: decline(request, now: now))
        case .release: return Outcome(change: release(request))
        case .inform: return Outcome(reply: inform(request))
        default:
            counters.ignored &+= 1
            return Outcome()
        }
    }

    // MARK: messages

    private func discover(_ request: DHCPMessage, now: Int64) -> Reply? {
        counters.discovers &+= 1
        let client = Self.identity(request)
        guard let address = chooseAddress(for: request, client: client, now: now) else {
            counters.exhausted &+= 1
            return nil
        }
        let lease = Lease(address: address, mac: request.clientHardwareAddress, clientID: request.clientIdentifier ?? [],
                          hostName: request.hostName, expires: now + offerHold)
        if byAddress[address]?.isOffer != false { bind(lease, isOffer: true) }
        counters.offers &+= 1
        return reply(.offer, to: request, yourAddress: address, withLease: true)
    }

    private func handleRequest(_ request: DHCPMessage, broadcast: Bool, now: Int64) -> Outcome {
        counters.requests &+= 1
        let client = Self.identity(request)
        if let server = request.serverIdentifier {
            // SELECTING: the client chose among offers.
            guard server == configuration.server else {
                if let held = byClient[client], byAddress[held]?.isOffer == true { unbind(held) }
                counters.ignored &+= 1
                return Outcome()
            }
            guard let wanted = request.requestedAddress, isAvailable(wanted, for: client, mac: request.clientHardwareAddress, now: now),
                  configuration.inRange(wanted) || reservation(of: request)?.address == wanted
            else { return Outcome(reply: nak(request, "The address you asked for is not available.")) }
            return ack(request, address: wanted, client: client, now: now)
        }
        if request.clientAddress == .any {
            // INIT-REBOOT: the client asks to keep the address it remembers.
            guard let wanted = request.requestedAddress else { counters.ignored &+= 1; return Outcome() }
            guard configuration.contains(wanted) else { return Outcome(reply: nak(request, "That address belongs to another network.")) }
            guard let held = byClient[client] else {
                // No record of this client: RFC 2131 says stay silent, unless the address is
                // plainly not its to have.
                if !isAvailable(wanted, for: client, mac: request.clientHardwareAddress, now: now) || !configuration.inRange(wanted) {
                    return Outcome(reply: nak(request, "That address is not yours."))
                }
                counters.ignored &+= 1
                return Outcome()
            }
            guard held == wanted, isValidLease(wanted, now: now) || isAvailable(wanted, for: client, mac: request.clientHardwareAddress, now: now),
                  configuration.inRange(wanted) || reservation(of: request)?.address == wanted
            else { return Outcome(reply: nak(request, "That address is not yours any more.")) }
            return ack(request, address: wanted, client: client, now: now)
        }
        // RENEWING (unicast to us) or REBINDING (broadcast): extend the lease on ciaddr.
        let address = request.clientAddress
        guard byClient[client] == address, configuration.inRange(address) || reservation(of: request)?.address == address,
              isAvailable(address, for: client, mac: request.clientHardwareAddress, now: now)
        else {
            if broadcast && byClient[client] == nil && configuration.contains(address) && configuration.inRange(address) {
                // REBINDING with no record here: another server's lease; stay silent.
                counters.ignored &+= 1
                return Outcome()
            }
            return Outcome(reply: nak(request, "The lease on this address cannot be extended."))
        }
        return ack(request, address: address, client: client, now: now)
    }

    private func ack(_ request: DHCPMessage, address: IPv4Address, client: [UInt8], now: Int64) -> Outcome {
        let lease = Lease(address: address, mac: request.clientHardwareAddress, clientID: request.clientIdentifier ?? [],
                          hostName: request.hostName ?? byAddress[address]?.lease.hostName,
                          expires: now + Int64(configuration.leaseTime))
        bind(lease, isOffer: false)
        counters.acks &+= 1
        return Outcome(reply: reply(.ack, to: request, yourAddress: address, withLease: true), change: .bound(lease))
    }

    private func nak(_ request: DHCPMessage, _ text: String) -> Reply {
        counters.naks &+= 1
        var message = DHCPMessage()
        message.transactionID = request.transactionID
        message.flags = request.flags
        message.clientHardwareAddress = request.clientHardwareAddress
        message.set(.messageType, [DHCPMessageType.nak.rawValue])
        message.set(.serverIdentifier, configuration.server.octets)
        message.set(.message, Array(text.utf8))
        if let id = request.clientIdentifier { message.set(.clientIdentifier, id) }
        // A NAK is always broadcast: the client may have no usable address.
        return Reply(message: message, destinationMAC: .broadcast, destinationIP: .broadcast)
    }

    /// The client found the address in use (it probed with ARP): set it aside for a while.
    private func decline(_ request: DHCPMessage, now: Int64) -> LeaseChange? {
        counters.declines &+= 1
        guard request.serverIdentifier == nil || request.serverIdentifier == configuration.server,
              let address = request.requestedAddress, byClient[Self.identity(request)] == address else { return nil }
        unbind(address)
        declined[address] = now + declineHold
        return .released(address)
    }

    private func release(_ request: DHCPMessage) -> LeaseChange? {
        counters.releases &+= 1
        let client = Self.identity(request)
        guard request.serverIdentifier == nil || request.serverIdentifier == configuration.server,
              byClient[client] == request.clientAddress else { return nil }
        unbind(request.clientAddress)
        return .released(request.clientAddress)
    }

    private func inform(_ request: DHCPMessage) -> Reply? {
        counters.informs &+= 1
        guard request.clientAddress != .any else { return nil }
        return reply(.ack, to: request, yourAddress: .any, withLease: false)
    }

    // MARK: addresses

    private func chooseAddress(for request: DHCPMessage, client: [UInt8], now: Int64) -> IPv4Address? {
        if let reserved = reservation(of: request) { return reserved.address }
        if let held = byClient[client], configuration.inRange(held), isAvailable(held, for: client, mac: request.clientHardwareAddress, now: now) {
            return held
        }
        if let wanted = request.requestedAddress, configuration.inRange(wanted),
           isAvailable(wanted, for: client, mac: request.clientHardwareAddress, now: now) {
            return wanted
        }
        // Search on from where the last search stopped, wrapping once: new clients cost O(1) on
        // average instead of a scan over every address already leased.
        let start = configuration.rangeStart.value, end = configuration.rangeEnd.value
        guard start <= end else { return nil }
        let count = UInt64(end - start) + 1
        let first = (start...end).contains(cursor) ? cursor : start
        for step in 0..<count {
            let value = UInt32((UInt64(first - start) + step) % count) + start
            let address = IPv4Address(value: value)
            if isAvailable(address, for: client, mac: request.clientHardwareAddress, now: now) {
                cursor = value == end ? start : value + 1
                return address
            }
        }
        return nil
    }

    /// Where the next search for a free address begins.
    private var cursor: UInt32 = 0

    /// Free for this client: not the server's, not the network or broadcast address, not
    /// reserved for someone else, not declined, not leased or offered to another client.
    private func isAvailable(_ address: IPv4Address, for client: [UInt8], mac: MACAddress, now: Int64) -> Bool {
        let mask = configuration.mask.value
        guard address != configuration.server, configuration.contains(address),
              address.value & ~mask != 0, address.value & ~mask != ~mask else { return false }
        if let owner = configuration.reservedAddresses[address], owner != mac { return false }
        if let until = declined[address], until > now { return false }
        if let binding = byAddress[address], binding.lease.expires > now, Self.identity(binding.lease) != client { return false }
        return true
    }

    private func isValidLease(_ address: IPv4Address, now: Int64) -> Bool {
        (byAddress[address]?.lease.expires ?? 0) > now
    }

    private func reservation(of request: DHCPMessage) -> DHCPConfiguration.Reservation? {
        configuration.reservations[request.clientHardwareAddress].flatMap { configuration.contains($0.address) ? $0 : nil }
    }

    private func bind(_ lease: Lease, isOffer: Bool) {
        let client = Self.identity(lease)
        if let previous = byClient[client], previous != lease.address { byAddress[previous] = nil }
        if let other = byAddress[lease.address], Self.identity(other.lease) != client { byClient[Self.identity(other.lease)] = nil }
        byAddress[lease.address] = Binding(lease: lease, isOffer: isOffer)
        byClient[client] = lease.address
    }

    private func unbind(_ address: IPv4Address) {
        if let binding = byAddress.removeValue(forKey: address) { byClient[Self.identity(binding.lease)] = nil }
    }

    static func identity(_ request: DHCPMessage) -> [UInt8] {
        request.clientIdentifier ?? [1] + request.clientHardwareAddress.octets
    }

    static func identity(_ lease: Lease) -> [UInt8] {
        lease.clientID.isEmpty ? [1] + lease.mac.octets : lease.clientID
    }

    // MARK: replies

    /// Builds OFFER or ACK with the options the client asked for (option 55), addressed as
    /// RFC 2131 §4.1 says: ciaddr set → unicast to it; broadcast bit → broadcast; else unicast to
    /// yiaddr at the client's hardware address.
    private func reply(_ type: DHCPMessageType, to request: DHCPMessage, yourAddress: IPv4Address, withLease: Bool) -> Reply {
        var message = DHCPMessage()
        message.transactionID = request.transactionID
        message.flags = request.flags
        message.clientAddress = request.clientAddress
        message.yourAddress = yourAddress
        message.serverAddress = configuration.server
        message.clientHardwareAddress = request.clientHardwareAddress
        message.set(.messageType, [type.rawValue])
        message.set(.serverIdentifier, configuration.server.octets)
        if withLease {
            message.set(.leaseTime, Self.bytes(configuration.leaseTime))
            message.set(.renewalTime, Self.bytes(configuration.renewalTime))
            message.set(.rebindingTime, Self.bytes(configuration.rebindingTime))
        }
        let asked = Set(request.parameterRequestList)
        let optional: [(DHCPOptionCode, [UInt8]?)] = [
            (.subnetMask, configuration.mask.octets),
            (.router, configuration.gateway?.octets),
            (.domainNameServer, configuration.dnsServers.isEmpty ? nil : configuration.dnsServers.flatMap(\.octets)),
            (.netbiosNameServer, configuration.winsServers.isEmpty ? nil : configuration.winsServers.flatMap(\.octets)),
        ]
        for (code, value) in optional {
            // The subnet mask always goes out; the rest only when asked for.
            if let value, code == .subnetMask || asked.contains(code) { message.set(code, value) }
        }
        if let id = request.clientIdentifier { message.set(.clientIdentifier, id) }
        if request.clientAddress != .any {
            return Reply(message: message, destinationMAC: request.clientHardwareAddress, destinationIP: request.clientAddress)
        }
        if request.isBroadcastRequested {
            return Reply(message: message, destinationMAC: .broadcast, destinationIP: .broadcast)
        }
        return Reply(message: message, destinationMAC: request.clientHardwareAddress, destinationIP: yourAddress)
    }

    static func bytes(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(truncatingIfNeeded: value >> 16), UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value)]
    }
}
