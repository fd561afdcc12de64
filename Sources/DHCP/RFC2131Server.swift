import Packets

/// A DHCP server for one virtual network, by RFC 2131, with no I/O and no clock of its own.
///
/// Clients: a client is its hardware address together with its client identifier (option 61),
/// so two cloned VMs sending one DUID from two NICs are two clients. A NIC holds one binding:
/// when the same MAC comes back with another identifier (iPXE, then the installed system) the
/// older binding is abandoned and its address goes to the newcomer (as dnsmasq does).
///
/// Address choice for a DISCOVER: the client's reservation when it can be granted (else a
/// dynamic address, reported); else the address it holds or held, or its NIC's abandoned one;
/// else the one it asks for (option 50); else the next free one after the last handed out. The
/// server's own address, the gateway, DNS, WINS and NTP servers and the boot server are never
/// handed out. An offer holds its address for `offerHold` seconds; the caller probes a fresh
/// address with ARP before sending the offer (`Outcome.probe`) and reports a conflict back.
///
/// REQUEST is answered by the client's state (§4.3.2): SELECTING (server identifier, no
/// ciaddr), INIT-REBOOT (option 50, no ciaddr), RENEWING and REBINDING (ciaddr; a stray server
/// identifier is tolerated). A client whose NIC has a reservation elsewhere is NAKed so it
/// moves. Clients this server has no record of: an authoritative server (the only one on its
/// network) grants a free address they ask for and NAKs the rest; a non-authoritative one (an
/// external network, beside the LAN's servers) stays silent. After the server address or the
/// subnet changes, requests to the former server are NAKed for one lease time, so clients move
/// at once instead of at T2. DECLINE sets the address aside; RELEASE ends the lease but keeps
/// the record, so the client gets the same address back; INFORM answers options only. A request
/// relayed by an agent inside this network is answered to the agent, NAKs with the broadcast
/// bit, option 82 echoed; one relayed from elsewhere is not this server's.
public final class RFC2131Server {
    public private(set) var configuration: DHCPConfiguration
    public let offerHold: Int64 = 60
    public let declineHold: Int64 = 600
    /// How long an address that answered no probe counts as free of static hosts.
    public let probeValidity: Int64 = 60
    /// Offers of addresses not probed recently ask the caller to probe first.
    public var probesBeforeOffer = true
    public internal(set) var counters = Counters()
    /// Lease rows made stale by the stored leases themselves (a client that moved address
    /// before a restart), to be released in the store.
    public private(set) var staleAtLoad: [LeaseChange] = []

    struct ClientKey: Hashable {
        var mac: MACAddress
        /// Option 61, or empty.
        var clientID: [UInt8]
    }

    struct Binding {
        var lease: Lease
        var isOffer: Bool
        var origin: UInt32?
    }

    // State shared by this file's extensions (address choice, replies); loop thread only.
    var byAddress: [IPv4Address: Binding] = [:]
    var byClient: [ClientKey: IPv4Address] = [:]
    var byMAC: [MACAddress: ClientKey] = [:]
    var declined: [IPv4Address: Int64] = [:]
    var probed: [IPv4Address: Int64] = [:]
    var formerServers: [IPv4Address: Int64] = [:]
    /// Addresses an administrator took from a client: not that client's again for a lease time,
    /// even where an authoritative server would otherwise adopt a client it has no record of.
    var revoked: [IPv4Address: (client: ClientKey, until: Int64)] = [:]
    var perOrigin: [UInt32: Set<IPv4Address>] = [:]
    var exhaustedClients: [ClientKey: Int64] = [:]
    var infrastructure: Set<IPv4Address> = []
    /// Where the next search for a free address begins.
    var cursor: UInt32 = 0
    /// Changes and notices of the message being handled.
    var changes: [LeaseChange] = []
    var notices: [Notice] = []

    /// `holds`: addresses set aside before a restart, with the time each is free again.
    public init(configuration: DHCPConfiguration, leases: [Lease] = [], holds: [(IPv4Address, until: Int64)] = []) {
        self.configuration = configuration
        for (address, until) in holds { declined[address] = until }
        infrastructure = Self.infrastructure(of: configuration)
        // The latest expiry wins when a client has several rows; the older ones are stale.
        for lease in leases.sorted(by: { $0.expires < $1.expires }) { bind(lease, isOffer: false, origin: nil) }
        staleAtLoad = changes
        changes = []
        if let latest = leases.max(by: { $0.expires < $1.expires }) { cursor = latest.address.value &+ 1 }
    }

    /// A new configuration keeps every lease; those it can no longer grant end at their next
    /// renewal (NAK). A former server address is answered for one lease time.
    public func update(_ configuration: DHCPConfiguration, now: Int64) {
        let old = self.configuration
        if old.server != configuration.server { formerServers[old.server] = now + Int64(old.leaseTime) }
        formerServers[configuration.server] = nil
        self.configuration = configuration
        infrastructure = Self.infrastructure(of: configuration)
    }

    /// True while a former server address is being retired (cheap: asked for every ARP request).
    public var isRetiringAddresses: Bool { !formerServers.isEmpty }

    /// True while `address` is a former server address being retired: the caller answers ARP for it.
    public func isFormerServer(_ address: IPv4Address, now: Int64) -> Bool {
        (formerServers[address] ?? 0) > now
    }

    /// Forgets every lease and offer of an adapter that was removed; returns the addresses freed.
    public func forget(_ mac: MACAddress) -> [IPv4Address] {
        let gone = byAddress.filter { $0.value.lease.mac == mac }.map(\.key)
        gone.forEach(unbind)
        return gone
    }

    /// Ends a lease an administrator released: the address is free at once and its client, no
    /// longer on record, is NAKed when it renews.
    public func revoke(_ address: IPv4Address, now: Int64) {
        if let binding = byAddress[address] {
            revoked[address] = (Self.identity(binding.lease), now + Int64(configuration.leaseTime))
        }
        unbind(address)
    }

    /// The probe of an offered address found no other host.
    public func probeSucceeded(_ address: IPv4Address, now: Int64) {
        probed[address] = now
    }

    /// The probe found `address` in use by `holder`: set it aside, withdraw the offer. Returns
    /// what to tell and the hold to store.
    public func conflict(_ address: IPv4Address, heardFrom holder: MACAddress, now: Int64) -> (notice: Notice, change: LeaseChange) {
        if byAddress[address]?.isOffer == true { unbind(address) }
        declined[address] = now + declineHold
        probed[address] = nil
        counters.conflicts &+= 1
        return (.conflict(address, heardFrom: holder), .held(address, until: now + declineHold))
    }

    /// Drops expired bookkeeping; call now and then.
    public func tick(now: Int64) {
        declined = declined.filter { $0.value > now }
        probed = probed.filter { $0.value + probeValidity > now }
        formerServers = formerServers.filter { $0.value > now }
        exhaustedClients = exhaustedClients.filter { $0.value > now }
        revoked = revoked.filter { $0.value.until > now }
    }

    /// Dynamic addresses leased or offered now.
    public func addressesInUse(now: Int64) -> Int {
        byAddress.reduce(0) { $0 + ($1.value.lease.expires > now && isDynamic($1.key) ? 1 : 0) }
    }

    /// Addresses the pool can hand out (the range less the network's own servers).
    public var poolSize: Int {
        guard configuration.rangeStart <= configuration.rangeEnd else { return 0 }
        let range = Int(configuration.rangeEnd.value - configuration.rangeStart.value) + 1
        return range - infrastructure.filter(configuration.inRange).count
    }

    /// Bound leases, for status pages.
    public func leases(now: Int64) -> [Lease] {
        byAddress.values.filter { !$0.isOffer && $0.lease.expires > now }.map(\.lease).sorted { $0.address < $1.address }
    }

    public func handle(_ request: DHCPMessage, arrivedAsBroadcast: Bool, now: Int64, origin: Origin? = nil,
                       addressedTo destination: IPv4Address? = nil) -> Outcome {
        guard request.op == 1, let type = request.messageType,
              request.relayAddress == .any || configuration.contains(request.relayAddress) else {
            counters.ignored &+= 1
            return Outcome()
        }
        changes = []
        notices = []
        let context = Context(request: request, key: Self.identity(request), broadcast: arrivedAsBroadcast, now: now, origin: origin,
                              formerServer: destination.flatMap { formerServers[$0] ?? 0 > now ? $0 : nil })
        var outcome: Outcome
        switch type {
        case .discover: outcome = discover(context)
        case .request: outcome = Outcome(reply: handleRequest(context))
        case .decline: decline(context); outcome = Outcome()
        case .release: release(context); outcome = Outcome()
        case .inform: outcome = Outcome(reply: inform(context))
        default:
            counters.ignored &+= 1
            outcome = Outcome()
        }
        if request.relayAddress != .any, var reply = outcome.reply {
            reply.message.relayAddress = request.relayAddress
            reply.destinationIP = request.relayAddress
            reply.toRelay = true
            // The agent broadcasts a NAK on the client's segment only when told to (§4.3.2).
            if reply.message.messageType == .nak { reply.message.flags |= 0x8000 }
            if let agent = request.option(.relayAgentInformation) { reply.message.set(.relayAgentInformation, agent) }
            outcome.reply = reply
        }
        outcome.changes = changes
        outcome.notices = notices
        return outcome
    }

    struct Context {
        let request: DHCPMessage
        let key: ClientKey
        let broadcast: Bool
        let now: Int64
        let origin: Origin?
        /// A former server address the request was sent to.
        let formerServer: IPv4Address?
        var mac: MACAddress { request.clientHardwareAddress }
    }

    // MARK: messages

    private func discover(_ context: Context) -> Outcome {
        counters.discovers &+= 1
        let inherited = supersede(context.key)
        if let origin = context.origin, byClient[context.key] == nil, activeBindings(of: origin.port, now: context.now) >= origin.bindingLimit {
            counters.overLimit &+= 1
            notices.append(.bindingLimit(port: origin.port))
            return Outcome()
        }
        guard let address = chooseAddress(context, inherited: inherited) else {
            if exhaustedClients[context.key] ?? 0 <= context.now {
                exhaustedClients[context.key] = context.now + offerHold
                counters.exhausted &+= 1
                notices.append(.poolExhausted(context.mac))
            }
            return Outcome()
        }
        let ownLease = byAddress[address].map { !$0.isOffer && Self.identity($0.lease) == context.key && $0.lease.expires > context.now } ?? false
        if !ownLease {
            let lease = Lease(address: address, mac: context.mac, clientID: context.key.clientID,
                              hostName: hostName(for: context, at: address), expires: context.now + offerHold)
            bind(lease, isOffer: true, origin: context.origin?.port)
        }
        counters.offers &+= 1
        let needsProbe = probesBeforeOffer && !ownLease && (probed[address].map { $0 + probeValidity <= context.now } ?? true)
        var outcome = Outcome(reply: reply(.offer, context, yourAddress: address, withLease: true))
        outcome.probe = needsProbe ? address : nil
        return outcome
    }

    private func handleRequest(_ context: Context) -> Reply? {
        counters.requests &+= 1
        let request = context.request
        let inherited = supersede(context.key)
        let known = byClient[context.key]
        if request.clientAddress == .any, let serverID = request.serverIdentifier {
            // SELECTING: the client chose among offers.
            guard serverID == configuration.server else {
                if formerServers[serverID] ?? 0 > context.now { return nak(context, "This server has a new address.", from: serverID) }
                if let held = known, byAddress[held]?.isOffer == true { unbind(held) }
                counters.ignored &+= 1
                return nil
            }
            guard let wanted = request.requestedAddress, isGrantable(wanted, context) else {
                return nak(context, "The address you asked for is not available.")
            }
            return ack(context, address: wanted)
        }
        if let wrong = movedByReservation(context) { return wrong }
        if request.clientAddress == .any {
            // INIT-REBOOT: the client asks to keep the address it remembers.
            guard let wanted = request.requestedAddress else { counters.ignored &+= 1; return nil }
            guard known != nil || inherited != nil || configuration.isAuthoritative else {
                // Not ours to judge: it may hold a lease from another server on the LAN.
                counters.ignored &+= 1
                return nil
            }
            guard configuration.contains(wanted) else { return refuse(context, "That address belongs to another network.") }
            // A client on record remembers wrongly when it asks for another address than its own.
            if let known, known != wanted, inherited != wanted { return refuse(context, "That address is not yours.") }
            guard isGrantable(wanted, context) else { return refuse(context, "That address is not yours any more.") }
            return ack(context, address: wanted)
        }
        // RENEWING (unicast) or REBINDING (broadcast): extend the lease on ciaddr.
        let address = request.clientAddress
        if let serverID = request.serverIdentifier, serverID != configuration.server, formerServers[serverID] ?? 0 <= context.now {
            counters.ignored &+= 1
            return nil
        }
        if known == address || inherited == address {
            guard isGrantable(address, context) else { return refuse(context, "The lease on this address cannot be extended.") }
            return ack(context, address: address)
        }
        if known != nil { return refuse(context, "That address is not yours.") }
        guard configuration.isAuthoritative || context.formerServer != nil else {
            counters.ignored &+= 1
            return nil
        }
        guard configuration.contains(address), isGrantable(address, context) else {
            return nak(context, "The lease on this address cannot be extended.")
        }
        return ack(context, address: address)
    }

    /// A client on the wrong address for its NIC's reservation is NAKed, so it asks again and
    /// gets the reserved one (only when that one can be granted now).
    private func movedByReservation(_ context: Context) -> Reply? {
        guard let reserved = reservation(of: context.request), isAvailable(reserved.address, context) else { return nil }
        let asked = context.request.clientAddress == .any ? context.request.requestedAddress : context.request.clientAddress
        guard let asked, asked != reserved.address else { return nil }
        if let held = byClient[context.key], held == asked { unbind(held); changes.append(.released(held)) }
        return nak(context, "This adapter has a reserved address.")
    }

    /// A NAK to a client this server has a binding for: the binding ends with it, so the
    /// address is free for whoever may have it (a reservation, the new range) at once.
    private func refuse(_ context: Context, _ text: String) -> Reply {
        if let held = byClient[context.key], let binding = byAddress[held] {
            unbind(held)
            if !binding.isOffer { changes.append(.released(held)) }
        }
        return nak(context, text)
    }

    private func ack(_ context: Context, address: IPv4Address) -> Reply {
        let lease = Lease(address: address, mac: context.mac, clientID: context.key.clientID,
                          hostName: hostName(for: context, at: address), expires: context.now + Int64(configuration.leaseTime))
        bind(lease, isOffer: false, origin: context.origin?.port)
        counters.acks &+= 1
        changes.append(.bound(lease))
        return reply(.ack, context, yourAddress: address, withLease: true)
    }

    /// The name a lease carries: the reservation's, else the client's own, else the one this
    /// same client gave before. Never another client's.
    private func hostName(for context: Context, at address: IPv4Address) -> String? {
        if let reserved = reservation(of: context.request), reserved.address == address, let name = reserved.hostName { return name }
        if let own = context.request.clientHostName { return own }
        guard let binding = byAddress[address], Self.identity(binding.lease) == context.key else { return nil }
        return binding.lease.hostName
    }

    /// The client found the address in use (it probed with ARP): set it aside for a while.
    private func decline(_ context: Context) {
        counters.declines &+= 1
        let request = context.request
        guard request.serverIdentifier == nil || request.serverIdentifier == configuration.server,
              let address = request.requestedAddress, byClient[context.key] == address else { return }
        unbind(address)
        declined[address] = context.now + declineHold
        changes.append(.released(address))
        changes.append(.held(address, until: context.now + declineHold))
        notices.append(.declined(address, by: context.mac))
    }

    /// RFC 2131 §4.3.4: the lease ends now, but the record stays, so the same client gets the
    /// same address when it comes back.
    private func release(_ context: Context) {
        counters.releases &+= 1
        let request = context.request
        guard request.serverIdentifier == nil || request.serverIdentifier == configuration.server,
              byClient[context.key] == request.clientAddress, var binding = byAddress[request.clientAddress], !binding.isOffer else { return }
        binding.lease.expires = min(binding.lease.expires, context.now)
        byAddress[request.clientAddress] = binding
        changes.append(.bound(binding.lease))
    }

    private func inform(_ context: Context) -> Reply? {
        counters.informs &+= 1
        guard context.request.clientAddress != .any else { return nil }
        return reply(.ack, context, yourAddress: .any, withLease: false)
    }

    static func identity(_ request: DHCPMessage) -> ClientKey {
        ClientKey(mac: request.clientHardwareAddress, clientID: request.clientIdentifier ?? [])
    }

    static func identity(_ lease: Lease) -> ClientKey {
        ClientKey(mac: lease.mac, clientID: lease.clientID)
    }
}
