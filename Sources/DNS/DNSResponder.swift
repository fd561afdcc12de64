/// Answers DNS queries for one network's zone. Pure: bytes in, a decision out; no clock, no I/O.
///
/// Policy, in order:
/// - fewer than 12 bytes, or a message with QR set (a response: answering it could loop): dropped;
/// - a readable header over a malformed body: FORMERR, with the query's id and no question;
/// - an opcode other than QUERY: NOTIMP; not exactly one question: FORMERR; EDNS version > 0: BADVERS;
/// - a name in the zone (class IN or ANY), authoritative (AA): A/AAAA/ANY from the zone's records,
///   the SOA at the apex, NODATA (SOA in authority) for a name that exists without the type asked,
///   NXDOMAIN (SOA in authority) for a name that does not exist; zone transfers are REFUSED;
/// - a reverse name (in-addr.arpa, ip6.arpa) of one of the zone's addresses: its PTR records;
/// - anything else: `.forward` when the zone forwards outside names, else REFUSED.
/// Answers echo the question as asked (its case too) and carry the asked name as owner. An answer
/// larger than the client's UDP size (512 without EDNS, capped by `maximumUDPSize`) goes out with
/// TC set and no records, so the client retries over TCP; over TCP the limit is 65,535 bytes (the
/// caller adds the 2-byte length prefix, RFC 1035 §4.2.2).
public struct DNSResponder: Sendable {
    public enum Response: Sendable, Equatable {
        /// Bytes to send back to the client.
        case answer([UInt8])
        /// A query for a name outside the zone, for the caller to send upstream.
        case forward(DNSMessage)
        /// Nothing to send.
        case drop
    }

    public static let classicUDPSize = 512

    public let zone: Zone
    /// The largest UDP answer sent and announced in EDNS (1232: no IPv6 fragmentation, DNS flag day 2020).
    public let maximumUDPSize: Int

    public init(zone: Zone, maximumUDPSize: Int = 1232) {
        self.zone = zone
        self.maximumUDPSize = max(Self.classicUDPSize, min(maximumUDPSize, 65_535))
    }

    public func respond(to bytes: UnsafeRawBufferPointer, overTCP: Bool = false) -> Response {
        guard let header = try? DNSHeader(parsing: bytes), !header.isResponse else { return .drop }
        guard let query = try? DNSMessage(parsing: bytes) else {
            var reply = DNSMessage()
            reply.header = replyHeader(to: header)
            reply.responseCode = .formatError
            return .answer(reply.serialized())
        }
        return respond(to: query, overTCP: overTCP)
    }

    public func respond(to query: DNSMessage, overTCP: Bool = false) -> Response {
        var reply = DNSMessage()
        reply.header = replyHeader(to: query.header)
        reply.questions = query.questions
        if let asked = query.edns {
            reply.edns = EDNS(udpPayloadSize: UInt16(maximumUDPSize), dnssecOK: asked.dnssecOK)
        }
        let clientLimit = overTCP ? 65_535 : query.edns.map { max(Self.classicUDPSize, min(Int($0.udpPayloadSize), maximumUDPSize)) } ?? Self.classicUDPSize

        if query.header.opcode != 0 {
            reply.responseCode = .notImplemented
        } else if query.questions.count != 1 {
            reply.responseCode = .formatError
        } else if let edns = query.edns, edns.version > 0 {
            reply.questions = []
            reply.responseCode = .badVersion
        } else {
            let question = query.questions[0]
            let served = question.questionClass == .internet || question.questionClass == .any
            if served, question.name.isSubdomain(of: zone.domain) {
                answerInZone(question, into: &reply)
            } else if served, let targets = zone.pointers[question.name] {
                reply.header.isAuthoritative = true
                if question.type == .ptr || question.type == .any {
                    reply.answers = targets.map { DNSRecord(name: question.name, type: .ptr, ttl: zone.ttl, data: .ptr($0)) }
                }
            } else if zone.forwardsOutside && served {
                return .forward(query)
            } else {
                reply.responseCode = .refused
            }
        }
        return .answer(reply.fitted(within: clientLimit))
    }

    private func replyHeader(to query: DNSHeader) -> DNSHeader {
        var header = DNSHeader()
        header.id = query.id
        header.isResponse = true
        header.opcode = query.opcode
        header.recursionDesired = query.recursionDesired
        header.recursionAvailable = zone.forwardsOutside
        header.checkingDisabled = query.checkingDisabled
        return header
    }

    private func answerInZone(_ question: DNSQuestion, into reply: inout DNSMessage) {
        reply.header.isAuthoritative = true
        if question.type == .axfr || question.type == .ixfr {
            reply.header.isAuthoritative = false
            reply.responseCode = .refused
            return
        }
        guard zone.existingNames.contains(question.name) else {
            reply.responseCode = .nameError
            reply.authority = [zone.startOfAuthority]
            return
        }
        let addresses = zone.addresses[question.name] ?? []
        for address in addresses {
            switch (address, question.type) {
            case (.ipv4(let v4), .a), (.ipv4(let v4), .any):
                reply.answers.append(DNSRecord(name: question.name, type: .a, ttl: zone.ttl, data: .a(v4)))
            case (.ipv6(let v6), .aaaa), (.ipv6(let v6), .any):
                reply.answers.append(DNSRecord(name: question.name, type: .aaaa, ttl: zone.ttl, data: .aaaa(v6)))
            default: break
            }
        }
        if question.name == zone.domain, question.type == .soa || question.type == .any {
            var soa = zone.startOfAuthority
            soa.name = question.name
            reply.answers.append(soa)
        }
        if reply.answers.isEmpty { reply.authority = [zone.startOfAuthority] }
    }
}

extension DNSMessage {
    /// The message's bytes, or, when they exceed `limit`, the message without records and with TC set.
    func fitted(within limit: Int) -> [UInt8] {
        let reply = self
        let bytes = reply.serialized()
        guard bytes.count > limit else { return bytes }
        var truncated = reply
        truncated.header.isTruncated = true
        truncated.answers = []
        truncated.authority = []
        truncated.additional = []
        let short = truncated.serialized()
        if short.count <= limit { return short }
        // A question near 255 bytes with an OPT record still fits 512; this is for safety only.
        truncated.questions = []
        return truncated.serialized()
    }
}
