/// Forwards the queries a network's zone does not answer to upstream resolvers and matches their
/// answers back to the clients that asked. Pure: bytes and times in, actions out; the caller owns
/// the sockets and the clock (monotonic milliseconds) and passes a random number generator.
///
/// Policy:
/// - A query is answered from `cache` when it can be; else it goes upstream with an id drawn at
///   random (never one in flight), from one of `socketCount` sockets chosen at random (the caller
///   binds each to a port the kernel picks at random and may reopen them), carrying RD, the
///   client's CD and DO bits and our own EDNS size, and nothing else of the client's (no options,
///   no cookies): the answer is the same for every client, so it can be cached and shared.
/// - The same question (name ignoring case, type, class, DO, CD) already in flight is not sent again:
///   the client waits for that answer (at most `maximumWaiters` clients per question).
/// - An answer is taken only when its id, its question and the upstream address (and socket) are
///   those of a query in flight; anything else is counted (`unmatchedAnswers`, `malformedAnswers`)
///   and ignored, so a spoofer must guess a 16-bit id and a random port at once.
/// - No answer within `attemptTimeout` milliseconds: the query goes again to the next upstream,
///   with a new id, up to `attempts` sends in all; SERVFAIL, REFUSED or NOTIMP from one upstream
///   also moves on to the next. When all attempts fail, the clients get SERVFAIL.
/// - A truncated (TC) answer over UDP is never cached. Clients that asked over UDP get it as it
///   is (TC set, with their id), so they retry over TCP as RFC 7766 expects; when a client that
///   asked over TCP waits, the query is sent again over TCP to the same upstream.
/// - Each client gets the answer with its own id and question spelling, RA set, AA cleared, and
///   cut to its UDP size (TC) when it does not fit.
/// - At most `maximumPending` questions in flight; beyond that a client gets SERVFAIL at once.
public struct DNSForwarder<Client: Hashable & Sendable>: Sendable {
    public enum Transport: Hashable, Sendable { case udp, tcp }

    public enum Action: Equatable, Sendable {
        /// Send `query` to `server`; over UDP from socket number `socket`, over TCP on a new
        /// connection (the caller adds the 2-byte length and hands back the answer without it).
        case send(query: [UInt8], to: UpstreamServer, socket: Int, transport: Transport)
        /// Send `answer` to `client` (over TCP the caller adds the 2-byte length).
        case answer([UInt8], to: Client)
    }

    public struct Configuration: Sendable {
        public var upstreams: [UpstreamServer]
        public var attemptTimeout: Int64 = 1500
        public var attempts = 3
        public var socketCount = 4
        public var maximumPending = 1024
        public var maximumWaiters = 64
        /// The EDNS size announced upstream and the largest UDP answer given to a client.
        public var maximumUDPSize = 1232

        public init(upstreams: [UpstreamServer]) {
            self.upstreams = upstreams
        }
    }

    struct Waiter: Sendable {
        var client: Client
        var id: UInt16
        var question: DNSQuestion
        var recursionDesired: Bool
        var checkingDisabled: Bool
        var edns: EDNS?
        var overTCP: Bool
    }

    struct Pending: Sendable {
        var key: DNSCache.Key
        var question: DNSQuestion
        var server: UpstreamServer
        var upstreamIndex: Int
        var socket: Int
        var transport: Transport
        var deadline: Int64
        var sends: Int
        var waiters: [Waiter]
    }

    public var configuration: Configuration
    public var cache: DNSCache
    private var pending: [UInt16: Pending] = [:]
    private var inFlight: [DNSCache.Key: UInt16] = [:]
    private var nextUpstream = 0

    public private(set) var forwarded: UInt64 = 0
    public private(set) var answeredFromCache: UInt64 = 0
    public private(set) var unmatchedAnswers: UInt64 = 0
    public private(set) var malformedAnswers: UInt64 = 0
    public private(set) var timeouts: UInt64 = 0
    public private(set) var failures: UInt64 = 0
    public private(set) var truncatedAnswers: UInt64 = 0
    public private(set) var shed: UInt64 = 0

    public init(configuration: Configuration, cache: DNSCache = DNSCache()) {
        self.configuration = configuration
        self.cache = cache
    }

    public var pendingCount: Int { pending.count }
    /// The upstream ids in flight (for the fuzz target, which answers them).
    public var pendingIDs: [UInt16] { Array(pending.keys) }
    /// Whether upstream id `id` is still waited for (the caller keeps a query's socket until not).
    public func isPending(_ id: UInt16) -> Bool { pending[id] != nil }

    /// The earliest time `expire(now:)` has work, if any query is in flight.
    public var nextDeadline: Int64? { pending.values.map(\.deadline).min() }

    /// New upstream servers (resolv.conf changed): the cache is dropped, queries in flight finish
    /// where they were sent.
    public mutating func replaceUpstreams(_ servers: [UpstreamServer]) {
        guard servers != configuration.upstreams else { return }
        configuration.upstreams = servers
        nextUpstream = 0
        cache.removeAll()
    }

    /// A client's query that `DNSResponder` left to forwarding (one question, opcode QUERY).
    public mutating func query<R: RandomNumberGenerator>(_ query: DNSMessage, from client: Client, overTCP: Bool, now: Int64,
                                                        using random: inout R) -> [Action] {
        guard let question = query.questions.first, query.questions.count == 1 else { return [] }
        let waiter = Waiter(client: client, id: query.header.id, question: question, recursionDesired: query.header.recursionDesired,
                            checkingDisabled: query.header.checkingDisabled, edns: query.edns, overTCP: overTCP)
        let key = DNSCache.Key(name: question.name, type: question.type, questionClass: question.questionClass,
                               dnssecOK: query.edns?.dnssecOK ?? false, checkingDisabled: query.header.checkingDisabled)
        if let cached = cache.lookup(key, now: now) {
            answeredFromCache &+= 1
            return [deliver(cached, to: waiter)]
        }
        if let id = inFlight[key], var joined = pending[id] {
            guard joined.waiters.count < configuration.maximumWaiters else {
                shed &+= 1
                return [failure(to: waiter)]
            }
            joined.waiters.append(waiter)
            pending[id] = joined
            return []
        }
        guard !configuration.upstreams.isEmpty, pending.count < configuration.maximumPending else {
            shed &+= 1
            return [failure(to: waiter)]
        }
        let index = nextUpstream % configuration.upstreams.count
        nextUpstream = (index + 1) % configuration.upstreams.count
        var entry = Pending(key: key, question: question, server: configuration.upstreams[index], upstreamIndex: index, socket: 0,
                            transport: .udp, deadline: 0, sends: 0, waiters: [waiter])
        return [send(&entry, now: now, using: &random)]
    }

    /// An answer that arrived from `server` on UDP socket `socket`, or over TCP (socket ignored).
    public mutating func answer<R: RandomNumberGenerator>(_ bytes: UnsafeRawBufferPointer, from server: UpstreamServer, socket: Int,
                                                         transport: Transport, now: Int64, using random: inout R) -> [Action] {
        guard let message = try? DNSMessage(parsing: bytes), message.header.isResponse else {
            malformedAnswers &+= 1
            return []
        }
        guard let entry = pending[message.header.id], entry.server == server, entry.transport == transport,
            transport == .tcp || entry.socket == socket,
            message.questions.count == 1, let asked = message.questions.first,
            asked.name == entry.question.name, asked.type == entry.question.type, asked.questionClass == entry.question.questionClass
        else {
            unmatchedAnswers &+= 1
            return []
        }
        var current = entry
        finish(message.header.id)

        switch message.responseCode {
        case .serverFailure, .refused, .notImplemented:
            if current.sends < configuration.attempts, configuration.upstreams.count > 1 {
                moveToNextUpstream(&current)
                return [send(&current, now: now, using: &random)]
            }
            failures &+= 1
            return current.waiters.map { deliver(message, to: $0) }
        default:
            break
        }
        if message.header.isTruncated && transport == .udp {
            truncatedAnswers &+= 1
            var actions = current.waiters.filter { !$0.overTCP }.map { deliver(message, to: $0) }
            current.waiters.removeAll { !$0.overTCP }
            if !current.waiters.isEmpty {
                current.transport = .tcp
                actions.append(send(&current, now: now, using: &random, counting: false))
            }
            return actions
        }
        cache.store(message, under: current.key, size: bytes.count, now: now)
        return current.waiters.map { deliver(message, to: $0) }
    }

    /// Queries whose time is up: sent again elsewhere, or answered SERVFAIL after the last attempt.
    public mutating func expire<R: RandomNumberGenerator>(now: Int64, using random: inout R) -> [Action] {
        var actions: [Action] = []
        for (id, entry) in pending where entry.deadline <= now {
            finish(id)
            var current = entry
            if current.sends < configuration.attempts, !configuration.upstreams.isEmpty {
                moveToNextUpstream(&current)
                actions.append(send(&current, now: now, using: &random))
            } else {
                timeouts &+= 1
                failures &+= 1
                actions += current.waiters.map { failure(to: $0) }
            }
        }
        return actions
    }

    private mutating func moveToNextUpstream(_ entry: inout Pending) {
        // Over TCP (a truncated answer) another upstream is as good; the UDP step starts again there.
        entry.upstreamIndex = (entry.upstreamIndex + 1) % max(1, configuration.upstreams.count)
        entry.server = configuration.upstreams[entry.upstreamIndex]
        entry.transport = entry.waiters.contains(where: \.overTCP) && entry.transport == .tcp ? .tcp : .udp
    }

    private mutating func finish(_ id: UInt16) {
        guard let entry = pending.removeValue(forKey: id) else { return }
        if inFlight[entry.key] == id { inFlight[entry.key] = nil }
    }

    /// Registers `entry` under a fresh random id and says what to send.
    private mutating func send<R: RandomNumberGenerator>(_ entry: inout Pending, now: Int64, using random: inout R,
                                                        counting: Bool = true) -> Action {
        var id = UInt16.random(in: .min ... .max, using: &random)
        while pending[id] != nil { id = UInt16.random(in: .min ... .max, using: &random) }
        entry.socket = entry.transport == .udp ? Int.random(in: 0..<max(1, configuration.socketCount), using: &random) : 0
        entry.deadline = now + configuration.attemptTimeout
        entry.sends += 1
        if counting { forwarded &+= 1 }
        pending[id] = entry
        inFlight[entry.key] = id

        var query = DNSMessage()
        query.header.id = id
        query.header.recursionDesired = true
        query.header.checkingDisabled = entry.key.checkingDisabled
        query.questions = [entry.question]
        query.edns = EDNS(udpPayloadSize: UInt16(configuration.maximumUDPSize), dnssecOK: entry.key.dnssecOK)
        return .send(query: query.serialized(), to: entry.server, socket: entry.socket, transport: entry.transport)
    }

    /// `message` rewritten for one client: its id, its question as spelled, RA, its EDNS, its size.
    private func deliver(_ message: DNSMessage, to waiter: Waiter) -> Action {
        var reply = message
        reply.header.id = waiter.id
        reply.header.isAuthoritative = false
        reply.header.recursionAvailable = true
        reply.header.recursionDesired = waiter.recursionDesired
        reply.header.checkingDisabled = waiter.checkingDisabled
        reply.questions = [waiter.question]
        let code = message.responseCode
        if let asked = waiter.edns {
            reply.edns = EDNS(udpPayloadSize: UInt16(configuration.maximumUDPSize), dnssecOK: asked.dnssecOK)
            reply.responseCode = code
        } else {
            reply.edns = nil
            // A client without EDNS cannot read an extended code.
            reply.responseCode = code.rawValue > 15 ? .serverFailure : code
        }
        let limit = waiter.overTCP ? 65_535
            : waiter.edns.map { max(DNSResponder.classicUDPSize, min(Int($0.udpPayloadSize), configuration.maximumUDPSize)) }
            ?? DNSResponder.classicUDPSize
        return .answer(reply.fitted(within: limit), to: waiter.client)
    }

    private func failure(to waiter: Waiter) -> Action {
        var reply = DNSMessage()
        reply.header.isResponse = true
        reply.responseCode = .serverFailure
        return deliver(reply, to: waiter)
    }
}
