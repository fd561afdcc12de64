import DNS
import Packets
import Testing

/// A repeatable generator, so ids and sockets in the tests are the same every run.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func dnsName(_ text: String) -> DNSName { try! DNSName(text) }

func message(_ bytes: [UInt8]) throws -> DNSMessage { try bytes.withUnsafeBytes { try DNSMessage(parsing: $0) } }

@Suite("DNS forwarder: ids, matching, retries, truncation, cache")
struct DNSForwarderTests {
    typealias Forwarder = DNSForwarder<String>
    let first = UpstreamServer(address: .ipv4(IPv4Address(10, 0, 0, 1)))
    let second = UpstreamServer(address: .ipv4(IPv4Address(10, 0, 0, 2)), port: 5353)
    let example = IPv4Address(198, 51, 100, 7)

    func forwarder(_ servers: [UpstreamServer]? = nil) -> Forwarder {
        Forwarder(configuration: .init(upstreams: servers ?? [first, second]))
    }

    func query(_ name: String, _ type: DNSType = .a, id: UInt16 = 0x4242, edns: EDNS? = nil) -> DNSMessage {
        var query = DNSMessage()
        query.header.id = id
        query.header.recursionDesired = true
        query.questions = [DNSQuestion(name: dnsName(name), type: type)]
        query.edns = edns
        return query
    }

    /// The upstream's answer to what was sent: same id and question, one A record (or what `edit` makes).
    func upstreamAnswer(to sent: [UInt8], ttl: UInt32 = 300, edit: (inout DNSMessage) -> Void = { _ in }) throws -> [UInt8] {
        var reply = try message(sent)
        reply.header.isResponse = true
        reply.header.recursionAvailable = true
        reply.answers = [DNSRecord(name: reply.questions[0].name, type: .a, ttl: ttl, data: .a(example))]
        edit(&reply)
        return reply.serialized()
    }

    func sent(_ actions: [Forwarder.Action]) throws -> (bytes: [UInt8], server: UpstreamServer, socket: Int, transport: Forwarder.Transport) {
        guard actions.count == 1, case .send(let bytes, let server, let socket, let transport) = actions[0] else {
            Issue.record("expected one send, got \(actions)")
            throw DNSMessageError.truncated(offset: 0)
        }
        return (bytes, server, socket, transport)
    }

    func answers(_ actions: [Forwarder.Action]) throws -> [(client: String, message: DNSMessage, size: Int)] {
        try actions.compactMap { action in
            guard case .answer(let bytes, let client) = action else { return nil }
            return (client, try message(bytes), bytes.count)
        }
    }

    @Test func forwardsWithARandomIdAndOwnEDNSAndMatchesTheAnswerBack() throws {
        var forwarder = forwarder()
        var random = SplitMix(state: 1)
        var asked = query("WWW.Example.org")
        asked.edns = EDNS(udpPayloadSize: 4096, options: [EDNS.Option(code: 10, data: [1, 2, 3, 4, 5, 6, 7, 8])])
        let out = try sent(forwarder.query(asked, from: "vm1", overTCP: false, now: 0, using: &random))
        let upstreamQuery = try message(out.bytes)
        #expect(out.server == first && out.transport == .udp && (0..<4).contains(out.socket))
        #expect(upstreamQuery.header.id != 0x4242 && upstreamQuery.header.recursionDesired)
        #expect(upstreamQuery.questions == asked.questions)
        #expect(upstreamQuery.edns == EDNS(udpPayloadSize: 1232), "the client's cookie is not passed on")

        let back = try answers(try upstreamAnswer(to: out.bytes).withUnsafeBytes {
            forwarder.answer($0, from: first, socket: out.socket, transport: .udp, now: 20, using: &random)
        })
        #expect(back.count == 1 && back[0].client == "vm1")
        let reply = back[0].message
        #expect(reply.header.id == 0x4242 && reply.header.recursionAvailable && !reply.header.isAuthoritative)
        #expect(reply.questions[0].name.isSpelledLike(dnsName("WWW.Example.org")))
        #expect(reply.answers.map(\.data) == [.a(example)] && reply.edns?.udpPayloadSize == 1232)
        #expect(forwarder.pendingCount == 0 && forwarder.forwarded == 1)
    }

    @Test func idsDifferPerQueryAndSocketsSpread() throws {
        var forwarder = forwarder([first])
        var random = SplitMix(state: 7)
        var ids = Set<UInt16>()
        var sockets = Set<Int>()
        for index in 0..<200 {
            let out = try sent(forwarder.query(query("host\(index).example.org"), from: "vm", overTCP: false, now: 0, using: &random))
            ids.insert(try message(out.bytes).header.id)
            sockets.insert(out.socket)
        }
        #expect(ids.count == 200, "an id in flight is never reused")
        #expect(sockets == [0, 1, 2, 3])
    }

    @Test func answersThatDoNotMatchAreIgnoredAndCounted() throws {
        var forwarder = forwarder()
        var random = SplitMix(state: 2)
        let out = try sent(forwarder.query(query("example.org"), from: "vm", overTCP: false, now: 0, using: &random))
        let good = try upstreamAnswer(to: out.bytes)
        var wrongID = try message(good)
        wrongID.header.id &+= 1
        var wrongName = try message(good)
        wrongName.questions[0].name = dnsName("evil.org")
        var wrongType = try message(good)
        wrongType.questions[0].type = .aaaa
        for bytes in [wrongID.serialized(), wrongName.serialized(), wrongType.serialized()] {
            #expect(bytes.withUnsafeBytes { forwarder.answer($0, from: first, socket: out.socket, transport: .udp, now: 1, using: &random) }.isEmpty)
        }
        #expect(good.withUnsafeBytes { forwarder.answer($0, from: second, socket: out.socket, transport: .udp, now: 1, using: &random) }.isEmpty,
                "from another address")
        #expect(good.withUnsafeBytes { forwarder.answer($0, from: first, socket: (out.socket + 1) % 4, transport: .udp, now: 1, using: &random) }.isEmpty,
                "on another socket")
        #expect([UInt8](repeating: 0xFF, count: 5).withUnsafeBytes { forwarder.answer($0, from: first, socket: out.socket, transport: .udp, now: 1, using: &random) }.isEmpty)
        #expect(forwarder.unmatchedAnswers == 5 && forwarder.malformedAnswers == 1)
        let taken = try answers(good.withUnsafeBytes { forwarder.answer($0, from: first, socket: out.socket, transport: .udp, now: 1, using: &random) })
        #expect(taken.count == 1)
        #expect(good.withUnsafeBytes { forwarder.answer($0, from: first, socket: out.socket, transport: .udp, now: 2, using: &random) }.isEmpty,
                "a second copy of the answer finds nothing in flight")
    }

    @Test func timeoutsMoveToTheNextUpstreamWithANewIdThenServfail() throws {
        var forwarder = forwarder()
        var random = SplitMix(state: 3)
        let one = try sent(forwarder.query(query("slow.example"), from: "vm", overTCP: false, now: 0, using: &random))
        #expect(forwarder.nextDeadline == 1500)
        #expect(forwarder.expire(now: 1499, using: &random).isEmpty)
        let two = try sent(forwarder.expire(now: 1500, using: &random))
        let three = try sent(forwarder.expire(now: 3000, using: &random))
        #expect(one.server == first && two.server == second && three.server == first)
        #expect(try Set([one, two, three].map { try message($0.bytes).header.id }).count == 3)
        // The first attempt's answer comes late: its id is no longer in flight.
        #expect(try upstreamAnswer(to: one.bytes).withUnsafeBytes {
            forwarder.answer($0, from: first, socket: one.socket, transport: .udp, now: 3100, using: &random)
        }.isEmpty)
        let failed = try answers(forwarder.expire(now: 4500, using: &random))
        #expect(failed.count == 1 && failed[0].message.responseCode == .serverFailure && failed[0].message.header.id == 0x4242)
        #expect(forwarder.timeouts == 1 && forwarder.pendingCount == 0 && forwarder.nextDeadline == nil)
    }

    @Test func serverFailureFromOneUpstreamTriesTheNext() throws {
        var forwarder = forwarder()
        var random = SplitMix(state: 4)
        let one = try sent(forwarder.query(query("broken.example"), from: "vm", overTCP: false, now: 0, using: &random))
        let failure = try upstreamAnswer(to: one.bytes) { $0.answers = []; $0.responseCode = .serverFailure }
        let two = try sent(failure.withUnsafeBytes { forwarder.answer($0, from: first, socket: one.socket, transport: .udp, now: 5, using: &random) })
        #expect(two.server == second)
        let good = try answers(try upstreamAnswer(to: two.bytes).withUnsafeBytes {
            forwarder.answer($0, from: second, socket: two.socket, transport: .udp, now: 9, using: &random)
        })
        #expect(good.map(\.message.responseCode) == [.noError])
    }

    @Test func sameQuestionInFlightIsSentOnceAndAnswersEveryone() throws {
        var forwarder = forwarder()
        var random = SplitMix(state: 5)
        let out = try sent(forwarder.query(query("shared.example", id: 1), from: "a", overTCP: false, now: 0, using: &random))
        #expect(forwarder.query(query("SHARED.example", id: 2), from: "b", overTCP: false, now: 1, using: &random).isEmpty)
        let replies = try answers(try upstreamAnswer(to: out.bytes).withUnsafeBytes {
            forwarder.answer($0, from: first, socket: out.socket, transport: .udp, now: 2, using: &random)
        })
        #expect(replies.map(\.client) == ["a", "b"] && replies.map(\.message.header.id) == [1, 2])
        #expect(replies[1].message.questions[0].name.isSpelledLike(dnsName("SHARED.example")))
        #expect(forwarder.forwarded == 1)
    }

    @Test func checkingDisabledQueriesAreKeptApartInFlightAndInTheCache() throws {
        var forwarder = forwarder()
        var random = SplitMix(state: 11)
        var unchecked = query("signed.example", id: 1)
        unchecked.header.checkingDisabled = true
        // A CD query first, then the same question without CD: two queries upstream, each with its own CD.
        let cd = try sent(forwarder.query(unchecked, from: "a", overTCP: false, now: 0, using: &random))
        let plain = try sent(forwarder.query(query("signed.example", id: 2), from: "b", overTCP: false, now: 1, using: &random))
        #expect(try message(cd.bytes).header.checkingDisabled)
        #expect(try !message(plain.bytes).header.checkingDisabled, "a validating client's query does not go out with CD")
        // The CD answer (what validation might refuse) is cached for CD clients only.
        let bogus = IPv4Address(192, 0, 2, 66)
        let toCD = try answers(try upstreamAnswer(to: cd.bytes) { $0.answers[0].data = .a(bogus) }.withUnsafeBytes {
            forwarder.answer($0, from: cd.server, socket: cd.socket, transport: .udp, now: 2, using: &random)
        })
        #expect(toCD.map(\.client) == ["a"], "the CD answer goes to the CD client alone")
        let toPlain = try answers(try upstreamAnswer(to: plain.bytes).withUnsafeBytes {
            forwarder.answer($0, from: plain.server, socket: plain.socket, transport: .udp, now: 3, using: &random)
        })
        #expect(toPlain.map(\.client) == ["b"] && toPlain[0].message.answers.map(\.data) == [.a(example)])
        let later = try answers(forwarder.query(query("signed.example", id: 3), from: "c", overTCP: false, now: 10, using: &random))
        #expect(later.first?.message.answers.map(\.data) == [.a(example)], "a non-CD client never gets the CD answer from the cache")
        var again = query("signed.example", id: 4)
        again.header.checkingDisabled = true
        let laterCD = try answers(forwarder.query(again, from: "d", overTCP: false, now: 10, using: &random))
        #expect(laterCD.first?.message.answers.map(\.data) == [.a(bogus)] && laterCD.first?.message.header.checkingDisabled == true)
        #expect(forwarder.forwarded == 2 && forwarder.answeredFromCache == 2)
    }

    @Test func aSecondQueryComesFromTheCacheWithItsTTLLowered() throws {
        var forwarder = forwarder()
        var random = SplitMix(state: 6)
        let out = try sent(forwarder.query(query("cached.example"), from: "vm", overTCP: false, now: 0, using: &random))
        _ = try upstreamAnswer(to: out.bytes, ttl: 30).withUnsafeBytes {
            forwarder.answer($0, from: first, socket: out.socket, transport: .udp, now: 0, using: &random)
        }
        let hit = try answers(forwarder.query(query("Cached.Example", id: 9), from: "vm2", overTCP: false, now: 10_500, using: &random))
        #expect(hit.count == 1 && hit[0].message.header.id == 9 && hit[0].message.answers.map(\.ttl) == [20])
        #expect(forwarder.forwarded == 1 && forwarder.answeredFromCache == 1)
        // At 30 s the entry is gone and the query goes upstream again.
        _ = try sent(forwarder.query(query("cached.example"), from: "vm", overTCP: false, now: 30_000, using: &random))
        #expect(forwarder.forwarded == 2)
    }

    @Test func truncatedAnswerGoesToUDPClientsAsItIsAndAgainOverTCPForTCPClients() throws {
        var forwarder = forwarder()
        var random = SplitMix(state: 8)
        let out = try sent(forwarder.query(query("big.example", .txt, id: 1), from: "udp", overTCP: false, now: 0, using: &random))
        #expect(forwarder.query(query("big.example", .txt, id: 2), from: "tcp", overTCP: true, now: 0, using: &random).isEmpty)
        let truncated = try upstreamAnswer(to: out.bytes) { $0.answers = []; $0.header.isTruncated = true }
        let actions = truncated.withUnsafeBytes { forwarder.answer($0, from: first, socket: out.socket, transport: .udp, now: 3, using: &random) }
        let udpReplies = try answers(actions)
        #expect(udpReplies.count == 1 && udpReplies[0].client == "udp" && udpReplies[0].message.header.isTruncated)
        guard case .send(let tcpQuery, let server, _, .tcp) = actions.last else {
            Issue.record("expected the query again over TCP")
            return
        }
        #expect(server == first && forwarder.truncatedAnswers == 1)
        let records = (0..<40).map { _ in DNSRecord(name: dnsName("big.example"), type: .txt, ttl: 60, data: .other(Array(repeating: 0x41, count: 100))) }
        let whole = try upstreamAnswer(to: tcpQuery) { $0.answers = records }
        // The TCP answer does not count on a UDP socket.
        #expect(whole.withUnsafeBytes { forwarder.answer($0, from: first, socket: 0, transport: .udp, now: 4, using: &random) }.isEmpty)
        let tcpReplies = try answers(whole.withUnsafeBytes { forwarder.answer($0, from: first, socket: 0, transport: .tcp, now: 4, using: &random) })
        #expect(tcpReplies.count == 1 && tcpReplies[0].client == "tcp" && tcpReplies[0].message.answers.count == 40 && tcpReplies[0].size > 4000)
        // The whole answer is cached; a UDP client without EDNS is told TC, an EDNS one too (over 1232).
        let small = try answers(forwarder.query(query("big.example", .txt, id: 3), from: "later", overTCP: false, now: 5, using: &random))
        #expect(small.count == 1 && small[0].message.header.isTruncated && small[0].size <= 512)
    }

    @Test func noUpstreamOrTooManyInFlightIsServfailAtOnce() throws {
        var none = forwarder([])
        var random = SplitMix(state: 9)
        #expect(try answers(none.query(query("x.example"), from: "vm", overTCP: false, now: 0, using: &random)).map(\.message.responseCode) == [.serverFailure])
        var configuration = Forwarder.Configuration(upstreams: [first])
        configuration.maximumPending = 2
        var small = Forwarder(configuration: configuration)
        _ = try sent(small.query(query("a.example"), from: "vm", overTCP: false, now: 0, using: &random))
        _ = try sent(small.query(query("b.example"), from: "vm", overTCP: false, now: 0, using: &random))
        #expect(try answers(small.query(query("c.example"), from: "vm", overTCP: false, now: 0, using: &random)).map(\.message.responseCode) == [.serverFailure])
        #expect(small.shed == 1)
    }

    @Test func extendedCodesBecomeServfailForClientsWithoutEDNS() throws {
        var forwarder = forwarder([first])
        var random = SplitMix(state: 10)
        let out = try sent(forwarder.query(query("odd.example"), from: "vm", overTCP: false, now: 0, using: &random))
        let odd = try upstreamAnswer(to: out.bytes) { $0.answers = []; $0.responseCode = .badVersion }
        let replies = try answers(odd.withUnsafeBytes { forwarder.answer($0, from: first, socket: out.socket, transport: .udp, now: 1, using: &random) })
        #expect(replies.map(\.message.responseCode) == [.serverFailure] && replies[0].message.edns == nil)
    }
}
