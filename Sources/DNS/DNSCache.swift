/// Answers from upstream resolvers, kept within their TTLs (RFC 1035 §7.4, RFC 2308 for negative
/// answers), bounded in entries and in bytes. Time is injected (milliseconds on a monotonic clock).
///
/// What is kept: a NOERROR answer with records, for the smallest TTL among its answer and
/// authority records; a negative answer (NXDOMAIN, or NOERROR without answers, "NODATA") only when
/// its authority section has an SOA, for the smaller of the SOA's TTL and its MINIMUM (RFC 2308 §5);
/// never a truncated answer, a failure (SERVFAIL, REFUSED, ...), or anything with a TTL of 0.
/// TTLs are capped at `maximumTTL`, so one odd upstream cannot pin an entry for weeks. When full,
/// the entry that expires first goes (expired ones before any live one).
///
/// A hit gives the stored message with every TTL lowered by the whole seconds it has been kept.
public struct DNSCache: Sendable {
    public struct Key: Hashable, Sendable {
        public var name: DNSName
        public var type: DNSType
        public var questionClass: DNSClass
        /// Answers for DO queries carry signatures the others do not want; kept apart.
        public var dnssecOK: Bool
        /// A CD (checking disabled) answer is not validated upstream: it may hold what validation
        /// would have refused (RFC 4035 §3.2.2), so it is never given to a client that did not set CD.
        public var checkingDisabled: Bool

        public init(name: DNSName, type: DNSType, questionClass: DNSClass, dnssecOK: Bool, checkingDisabled: Bool = false) {
            self.name = name
            self.type = type
            self.questionClass = questionClass
            self.dnssecOK = dnssecOK
            self.checkingDisabled = checkingDisabled
        }
    }

    struct Entry: Sendable {
        var message: DNSMessage
        var storedAt: Int64
        var expiresAt: Int64
        var bytes: Int
    }

    public let maximumEntries: Int
    public let maximumBytes: Int
    public let maximumTTL: UInt32
    public private(set) var byteCount = 0
    public private(set) var hits: UInt64 = 0
    public private(set) var misses: UInt64 = 0
    public private(set) var evictions: UInt64 = 0
    private var entries: [Key: Entry] = [:]

    public var count: Int { entries.count }

    public init(maximumEntries: Int = 4096, maximumBytes: Int = 4 << 20, maximumTTL: UInt32 = 86_400) {
        self.maximumEntries = max(1, maximumEntries)
        self.maximumBytes = max(512, maximumBytes)
        self.maximumTTL = maximumTTL
    }

    /// How long `answer` may be kept, in seconds; nil when it must not be.
    public static func cacheSeconds(for answer: DNSMessage) -> UInt32? {
        guard answer.header.isResponse, !answer.header.isTruncated, answer.questions.count == 1 else { return nil }
        let soa = answer.authority.first { $0.type == .soa }
        let negativeTTL: UInt32? = soa.flatMap { record in
            guard case .soa(let data) = record.data else { return nil }
            return min(record.ttl, data.minimum)
        }
        switch answer.responseCode {
        case .nameError:
            return negativeTTL.flatMap { $0 == 0 ? nil : $0 }
        case .noError where answer.answers.isEmpty:
            return negativeTTL.flatMap { $0 == 0 ? nil : $0 }
        case .noError:
            // RFC 2181 §8: a TTL with its top bit set is taken as 0.
            let ttl = (answer.answers + answer.authority).map { $0.ttl > UInt32(Int32.max) ? 0 : $0.ttl }.min() ?? 0
            return ttl == 0 ? nil : ttl
        default:
            return nil
        }
    }

    /// Keeps `answer` (as the upstream sent it: its id and header do not matter) under `key`,
    /// when `cacheSeconds(for:)` allows. `size` is its wire size, the measure of the byte bound.
    public mutating func store(_ answer: DNSMessage, under key: Key, size: Int, now: Int64) {
        guard let seconds = Self.cacheSeconds(for: answer), size <= maximumBytes else { return }
        remove(key)
        while entries.count >= maximumEntries || byteCount + size > maximumBytes, evictOne(now: now) {}
        let kept = min(seconds, maximumTTL)
        var message = answer
        message.edns = nil
        // No record outlives the entry: a negative answer's SOA is served with the negative TTL.
        func clamped(_ records: [DNSRecord]) -> [DNSRecord] {
            records.map { record in
                var record = record
                record.ttl = min(record.ttl, kept)
                return record
            }
        }
        message.answers = clamped(message.answers)
        message.authority = clamped(message.authority)
        message.additional = clamped(message.additional)
        entries[key] = Entry(message: message, storedAt: now, expiresAt: now + Int64(kept) * 1000, bytes: size)
        byteCount += size
    }

    /// The kept answer for `key` with its TTLs lowered by its age, or nil (expired entries go).
    public mutating func lookup(_ key: Key, now: Int64) -> DNSMessage? {
        guard let entry = entries[key] else {
            misses &+= 1
            return nil
        }
        guard entry.expiresAt > now else {
            remove(key)
            misses &+= 1
            return nil
        }
        hits &+= 1
        let age = UInt32(clamping: max(0, now - entry.storedAt) / 1000)
        var message = entry.message
        func aged(_ records: [DNSRecord]) -> [DNSRecord] {
            records.map { record in
                var record = record
                record.ttl = record.ttl > age ? record.ttl - age : 0
                return record
            }
        }
        message.answers = aged(message.answers)
        message.authority = aged(message.authority)
        message.additional = aged(message.additional)
        return message
    }

    /// Forgets everything (the upstream servers changed).
    public mutating func removeAll() {
        entries.removeAll()
        byteCount = 0
    }

    private mutating func remove(_ key: Key) {
        if let old = entries.removeValue(forKey: key) { byteCount -= old.bytes }
    }

    /// Removes the entry that expires first; false when there is none.
    private mutating func evictOne(now: Int64) -> Bool {
        guard let victim = entries.min(by: { $0.value.expiresAt < $1.value.expiresAt })?.key else { return false }
        remove(victim)
        evictions &+= 1
        return true
    }
}
