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
/// outside the network's IPv4 subnet or IPv6 prefix (or link-local) are dropped and counted, so
/// the server is no open resolver even where the host interface is reachable from elsewhere.
/// Sockets bind with IP_FREEBIND: the server can start before the interface has its address.
final class NetworkDNSServer {
    struct Setup: Equatable {
        var address: IPv4Address
        var subnet: (network: IPv4Address, mask: IPv4Address)
        var ipv6: IPv6Address?
        var forwards: Bool
        var upstreams: [UpstreamServer]

        static func == (lhs: Setup, rhs: Setup) -> Bool {
            lhs.address == rhs.address && lhs.subnet.network == rhs.subnet.network && lhs.subnet.mask == rhs.subnet.mask
                && lhs.ipv6 == rhs.ipv6 && lhs.forwards == rhs.forwards && lhs.upstreams == rhs.upstreams
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
    private var upstreamSockets: [SocketAddress.Family: [UDPSocket]] = [:]
    private var connections: [UInt64: DNSStreamConnection] = [:]
    private var nextConnection: UInt64 = 0
    private var expiryArmed = false

    private(set) var queries: UInt64 = 0
    private(set) var outsideQueries: UInt64 = 0
    private(set) var dropped: UInt64 = 0
    private(set) var problems: [String] = []

    init(setup: Setup, loop: EventLoop, logger: Logger, zone: @escaping () -> Zone?) {
        self.setup = setup
        self.loop = loop
        self.logger = logger
        self.zone = zone
        forwarder = DNSForwarder(configuration: .init(upstreams: setup.upstreams))
        open()
    }

    var forwarderCounters: (forwarded: UInt64, cached: UInt64, failures: UInt64) {
        (forwarder.forwarded, forwarder.answeredFromCache, forwarder.failures)
    }

    /// New addresses reopen the sockets; new upstreams only replace them (and empty the cache).
    func update(_ new: Setup) {
        guard new != setup else { return }
        let reopen = new.address != setup.address || new.ipv6 != setup.ipv6
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
        for address in addresses {
            let index = listeners.count
            do {
                let udp = try UDPSocket(loop: loop, bindTo: address, freeBind: true)
                udp.onDatagram = { [unowned self] bytes, source in received(bytes, from: source, listener: index) }
                listeners.append(udp)
                let tcp = try DNSStreamListener(loop: loop, bindTo: address, freeBind: true)
                tcp.onMessage = { [unowned self] bytes, source, connection in received(bytes, from: source, over: connection) }
                streamListeners.append(tcp)
            } catch {
                problems.append("DNS on \(address): \(error)")
                logger.error("the network's DNS server cannot listen", metadata: ["address": "\(address)", "error": "\(error)"])
            }
        }
    }

    func close() {
        closeSockets()
        for sockets in upstreamSockets.values { sockets.forEach { $0.close() } }
        upstreamSockets = [:]
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
            return address.isLinkLocal || setup.ipv6.map { $0.high == address.high } ?? false
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
            case .send(let query, let server, let socket, .udp):
                guard let sockets = upstreamSockets(for: server), sockets.indices.contains(socket) else { continue }
                sockets[socket].send(query, to: server.socketAddress)
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

    /// The forwarder's sockets for the server's family, opened on first use on ports the kernel
    /// picks at random; every one listens for answers.
    private func upstreamSockets(for server: UpstreamServer) -> [UDPSocket]? {
        let family = server.socketAddress.family
        if let open = upstreamSockets[family] { return open }
        var sockets: [UDPSocket] = []
        for index in 0..<forwarder.configuration.socketCount {
            guard let socket = try? UDPSocket(loop: loop, bindTo: nil, family: family.rawValue) else { break }
            socket.onDatagram = { [unowned self] bytes, source in
                guard let from = UpstreamServer(source) else { return }
                perform(forwarder.answer(bytes, from: from, socket: index, transport: .udp, now: loop.now, using: &random))
            }
            sockets.append(socket)
        }
        guard sockets.count == forwarder.configuration.socketCount else {
            sockets.forEach { $0.close() }
            return nil
        }
        upstreamSockets[family] = sockets
        return sockets
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
