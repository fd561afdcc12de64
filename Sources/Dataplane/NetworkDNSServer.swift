import DNS
import Foundation
import HostNet
import Logging
import Packets

/// A host or NAT network's DNS server, on the host interface's addresses (IPv4, and IPv6 when
/// the network has a /64), UDP and TCP port 53. Loop thread only.
///
/// It answers the network's zone (`DHCPEndpoint.buildZone`: VM, reservation and lease names, A
/// and AAAA, PTR) with authority; on NAT networks every other name goes to the host's resolvers
/// through `DNSForwarder` and its cache; on host networks other names are REFUSED. Queries from
/// outside the network's IPv4 subnet or IPv6 prefix are dropped and counted (TCP peers closed at
/// accept), so the server is no open resolver even where the host interface is reachable from
/// elsewhere. The listeners are bound to the host interface (SO_BINDTODEVICE): what reaches the
/// same addresses by another interface never gets to them, and a link-local source is trusted only
/// then (it says nothing about the link otherwise). Sockets bind with IP_FREEBIND: the server can
/// start before the interface has its address.
///
/// Upstream queries go each from a socket of its own, on a port the kernel picks at random and
/// connected to the upstream (RFC 5452 §9.2): a forged answer must hit the id and one port out of
/// ~28,000 at once, and the kernel drops datagrams from any other address. Binding to the outbound
/// address would not help: Linux delivers to a local address whatever interface a packet came in
/// by, and the upstream is often the host's own stub resolver on 127.0.0.53. The socket closes
/// when its query is answered or its attempt times out. (vnetd's nftables table also drops packets
/// from the network whose source is not the network's, so a VM cannot pose as the upstream.)
final class NetworkDNSServer {
    struct Setup: Equatable {
        var address: IPv4Address
        var subnet: (network: IPv4Address, mask: IPv4Address)
        var ipv6: IPv6Address?
        var forwards: Bool
        var upstreams: [UpstreamServer]
        /// The host interface the listeners are bound to.
        var interface: String? = nil

        static func == (lhs: Setup, rhs: Setup) -> Bool {
            lhs.address == rhs.address && lhs.subnet.network == rhs.subnet.network && lhs.subnet.mask == rhs.subnet.mask
                && lhs.ipv6 == rhs.ipv6 && lhs.forwards == rhs.forwards && lhs.upstreams == rhs.upstreams && lhs.interface == rhs.interface
        }
    }

    enum Client: Hashable, Sendable {
        case udp(listener: Int, SocketAddress)
        case tcp(connection: UInt64)
    }

    let loop: EventLoop
    let logger: Logger
    private(set) var setup: Setup
    /// The zone as it is now; asked at most once a second.
    var zone: () -> Zone?
    private var responder: DNSResponder?
    private var responderBuilt: Int64?
    /// The zone's answers by the query's bytes after its id (flags, question, EDNS): the same
    /// query gets the same answer from the same zone, so a repeat costs a lookup, not a parse
    /// and a serialization. Emptied whenever the zone is rebuilt; UDP only; bounded.
    private var answerCache: [[UInt8]: [UInt8]] = [:]
    static let answerCacheEntries = 1024, answerCacheKeyBytes = 300
    private var forwarder: DNSForwarder<Client>
    private var random = SystemRandomNumberGenerator()
    private var listeners: [UDPSocket] = []
    private var streamListeners: [DNSStreamListener] = []
    /// Upstream UDP queries in flight, by upstream id: one connected socket each.
    private var exchanges: [UInt16: UDPSocket] = [:]
    /// Whether every listener is bound to the host interface (else link-local sources are not trusted).
    private var boundToInterface = false
    /// The interface was not there when the listeners opened: they open again when it may be.
    private var retryBinding = false
    private var connections: [UInt64: DNSStreamConnection] = [:]
    private var nextConnection: UInt64 = 0
    private var expiryArmed = false

    private(set) var queries: UInt64 = 0
    private(set) var outsideQueries: UInt64 = 0
    private(set) var dropped: UInt64 = 0
    private(set) var upstreamSocketFailures: UInt64 = 0
    private(set) var problems: [String] = []

    init(setup: Setup, loop: EventLoop, logger: Logger, zone: @escaping () -> Zone?) {
        self.setup = setup
        self.loop = loop
        self.logger = logger
        self.zone = zone
        var configuration = DNSForwarder<Client>.Configuration(upstreams: setup.upstreams)
        configuration.socketCount = 1
        forwarder = DNSForwarder(configuration: configuration)
        open()
    }

    var forwarderCounters: (forwarded: UInt64, cached: UInt64, failures: UInt64) {
        (forwarder.forwarded, forwarder.answeredFromCache, forwarder.failures)
    }

    /// New addresses reopen the sockets; new upstreams only replace them (and empty the cache).
    func update(_ new: Setup) {
        guard new != setup || retryBinding else { return }
        // A listener that could not be bound to the interface (not there yet) is tried again.
        let reopen = new.address != setup.address || new.ipv6 != setup.ipv6 || new.interface != setup.interface || retryBinding
        setup = new
        forwarder.replaceUpstreams(new.upstreams)
        responderBuilt = nil
        if reopen {
            closeSockets()
            open()
        }
    }

    private func open() {
        problems = []
        var addresses: [SocketAddress] = [.v4(setup.address, port: 53)]
        if let v6 = setup.ipv6 { addresses.append(.v6(v6, port: 53)) }
        boundToInterface = setup.interface != nil
        retryBinding = false
        for address in addresses {
            let index = listeners.count
            do {
                let udp: UDPSocket, tcp: DNSStreamListener
                do {
                    (udp, tcp) = try listen(at: address, device: setup.interface)
                } catch where setup.interface != nil && error.call.hasPrefix("SO_BINDTODEVICE") {
                    // The interface is not there yet (or the kernel refuses): listen on the address
                    // alone, trusting no link-local source; tried again while the interface is missing.
                    logger.warning("the network's DNS server is not bound to its host interface", metadata: ["address": "\(address)", "error": "\(error)"])
                    boundToInterface = false
                    retryBinding = retryBinding || error.errno == ENODEV
                    (udp, tcp) = try listen(at: address, device: nil)
                }
                udp.onDatagram = { [unowned self] bytes, source in received(bytes, from: source, listener: index) }
                listeners.append(udp)
                tcp.admits = { [unowned self] peer in
                    let admitted = isFromNetwork(peer)
                    if !admitted { outsideQueries &+= 1 }
                    return admitted
                }
                tcp.onMessage = { [unowned self] bytes, source, connection in received(bytes, from: source, over: connection) }
                streamListeners.append(tcp)
            } catch {
                problems.append("DNS on \(address): \(error)")
                logger.error("the network's DNS server cannot listen", metadata: ["address": "\(address)", "error": "\(error)"])
            }
        }
    }

    private func listen(at address: SocketAddress, device: String?) throws(SystemError) -> (UDPSocket, DNSStreamListener) {
        let udp = try UDPSocket(loop: loop, bindTo: address, freeBind: true, device: device)
        do {
            return (udp, try DNSStreamListener(loop: loop, bindTo: address, freeBind: true, device: device))
        } catch {
            udp.close()
            throw error
        }
    }

    func close() {
        closeSockets()
        exchanges.values.forEach { $0.close() }
        exchanges = [:]
    }

    private func closeSockets() {
        listeners.forEach { $0.close() }
        streamListeners.forEach { $0.close() }
        listeners = []
        streamListeners = []
        connections = [:]
    }

    private func isFromNetwork(_ source: SocketAddress) -> Bool {
        switch source {
        case .v4(let address, _):
            return address.value & setup.subnet.mask.value == setup.subnet.network.value & setup.subnet.mask.value
        case .v6(let address, _):
            if address.isLinkLocal { return boundToInterface }
            return setup.ipv6.map { $0.high == address.high } ?? false
        }
    }

    private func currentResponder() -> DNSResponder? {
        let now = loop.now
        if responderBuilt.map({ now - $0 >= 1000 }) ?? true {
            responder = zone().map { DNSResponder(zone: $0) }
            responderBuilt = now
            answerCache.removeAll(keepingCapacity: true)
        }
        return responder
    }

    private func received(_ bytes: UnsafeRawBufferPointer, from source: SocketAddress, listener: Int) {
        guard isFromNetwork(source) else {
            outsideQueries &+= 1
            return
        }
        handle(bytes, client: .udp(listener: listener, source), overTCP: false)
    }

    private func received(_ bytes: UnsafeRawBufferPointer, from source: SocketAddress, over connection: DNSStreamConnection) {
        guard isFromNetwork(source) else {
            outsideQueries &+= 1
            connection.close()
            return
        }
        if let id = connections.first(where: { $0.value === connection })?.key {
            handle(bytes, client: .tcp(connection: id), overTCP: true)
            return
        }
        nextConnection &+= 1
        connections = connections.filter { $0.value.isOpen }
        connections[nextConnection] = connection
        handle(bytes, client: .tcp(connection: nextConnection), overTCP: true)
    }

    private func handle(_ bytes: UnsafeRawBufferPointer, client: Client, overTCP: Bool) {
        queries &+= 1
        guard let responder = currentResponder() else {
            dropped &+= 1
            return
        }
        let key: [UInt8]? = !overTCP && bytes.count > 2 && bytes.count <= Self.answerCacheKeyBytes ? Array(bytes[2...]) : nil
        if let key, var answer = answerCache[key] {
            answer[0] = bytes[0]
            answer[1] = bytes[1]
            deliver(answer, to: client)
            return
        }
        switch responder.respond(to: bytes, overTCP: overTCP) {
        case .answer(let answer):
            if let key, answer.count >= 2, answerCache.count < Self.answerCacheEntries { answerCache[key] = answer }
            deliver(answer, to: client)
        case .forward(let query):
            perform(forwarder.query(query, from: client, overTCP: overTCP, now: loop.now, using: &random))
        case .drop:
            dropped &+= 1
        }
    }

    private func deliver(_ answer: [UInt8], to client: Client) {
        switch client {
        case .udp(let listener, let address):
            if listeners.indices.contains(listener) { listeners[listener].send(answer, to: address) }
        case .tcp(let id):
            connections[id]?.reply(answer)
        }
    }

    private func perform(_ actions: [DNSForwarder<Client>.Action]) {
        for action in actions {
            switch action {
            case .answer(let bytes, let client):
                deliver(bytes, to: client)
            case .send(let query, let server, _, .udp):
                sendUpstream(query, to: server)
            case .send(let query, let server, _, .tcp):
                DNSStreamExchange(loop: loop, to: server.socketAddress, query: query) { [weak self] answer in
                    guard let self, let answer else { return }
                    let actions = answer.withUnsafeBytes {
                        self.forwarder.answer($0, from: server, socket: 0, transport: .tcp, now: self.loop.now, using: &self.random)
                    }
                    self.perform(actions)
                }
            }
        }
        armExpiry()
    }

    /// Sends one upstream query from a socket of its own, connected to `server`.
    private func sendUpstream(_ query: [UInt8], to server: UpstreamServer) {
        guard query.count >= 2 else { return }
        let id = UInt16(query[0]) << 8 | UInt16(query[1])
        exchanges.removeValue(forKey: id)?.close()
        let address = server.socketAddress
        guard let socket = try? UDPSocket(loop: loop, bindTo: nil, family: address.family.rawValue) else {
            upstreamSocketFailures &+= 1
            return
        }
        guard socket.connect(to: address) else {
            socket.close()
            upstreamSocketFailures &+= 1
            return
        }
        socket.onDatagram = { [unowned self, weak socket] bytes, source in
            guard let from = UpstreamServer(source) else { return }
            perform(forwarder.answer(bytes, from: from, socket: 0, transport: .udp, now: loop.now, using: &random))
            if let socket, !forwarder.isPending(id) { retire(id, socket) }
        }
        exchanges[id] = socket
        socket.send(query, to: address)
        loop.runAfter(milliseconds: forwarder.configuration.attemptTimeout + 100) { [weak self, weak socket] in
            guard let self, let socket else { return }
            self.retire(id, socket)
        }
    }

    private func retire(_ id: UInt16, _ socket: UDPSocket) {
        if exchanges[id] === socket { exchanges[id] = nil }
        socket.close()
    }

    private func armExpiry() {
        guard !expiryArmed, let due = forwarder.nextDeadline else { return }
        expiryArmed = true
        loop.runAfter(milliseconds: max(10, due - loop.now)) { [weak self] in
            guard let self else { return }
            self.expiryArmed = false
            self.perform(self.forwarder.expire(now: self.loop.now, using: &self.random))
        }
    }
}

extension UpstreamServer {
    var socketAddress: SocketAddress {
        switch address {
        case .ipv4(let v4): .v4(v4, port: port)
        case .ipv6(let v6): .v6(IPv6Address(bytes: v6.bytes) ?? .unspecified, port: port)
        }
    }

    init?(_ address: SocketAddress) {
        switch address {
        case .v4(let v4, let port): self.init(address: .ipv4(v4), port: port)
        case .v6(let v6, let port):
            guard let bytes = IPv6AddressBytes(bytes: v6.bytes) else { return nil }
            self.init(address: .ipv6(bytes), port: port)
        }
    }
}
