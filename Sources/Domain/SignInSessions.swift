import Foundation
import Synchronization

/// How long sign-ins last.
public struct SessionPolicy: Sendable {
    /// A session unused this long has ended.
    public var idleTimeout: TimeInterval
    /// A session ends this long after sign-in, however busy.
    public var lifetime: TimeInterval
    /// How often a session re-reads its account, so a changed password or a removed account
    /// ends it even when the change came from another process (`vnetd user passwd`).
    public var recheckInterval: TimeInterval
    /// Sessions kept at most; beyond it the one idle longest is ended.
    public var maximumSessions: Int

    public init(idleTimeout: TimeInterval = 30 * 60, lifetime: TimeInterval = 12 * 3600, recheckInterval: TimeInterval = 5, maximumSessions: Int = 10_000) {
        self.idleTimeout = idleTimeout
        self.lifetime = lifetime
        self.recheckInterval = recheckInterval
        self.maximumSessions = maximumSessions
    }
}

/// The signed-in sessions, by their secret token (the cookie's value).
///
/// Kept in memory: a restart signs everyone out. Tokens are 256 bits from the system's
/// cryptographic generator; a token is only ever compared as a whole dictionary key.
public final class SessionRegistry: Sendable {
    struct Session {
        var administrator: String
        var credential: String
        var opened: Date
        var lastSeen: Date
        var checked: Date
    }

    private let sessions = Mutex<[String: Session]>([:])
    private let policy: SessionPolicy
    /// The current stored hash of an account, or nil when it no longer exists.
    private let currentCredential: @Sendable (String) -> String?

    public init(policy: SessionPolicy = SessionPolicy(), currentCredential: @escaping @Sendable (String) -> String?) {
        self.policy = policy
        self.currentCredential = currentCredential
    }

    /// Starts a session for an administrator who just proved their password; returns its token.
    public func open(for administrator: Administrator, now: Date) -> String {
        let token = Self.newToken()
        let session = Session(administrator: administrator.name, credential: administrator.passwordHash, opened: now, lastSeen: now, checked: now)
        sessions.withLock { sessions in
            sessions = sessions.filter { !isExpired($0.value, now: now) }
            if sessions.count >= policy.maximumSessions, let idlest = sessions.min(by: { $0.value.lastSeen < $1.value.lastSeen }) {
                sessions[idlest.key] = nil
            }
            sessions[token] = session
        }
        return token
    }

    /// The administrator a token belongs to, when its session is still open; counts as activity.
    public func administrator(for token: String, now: Date) -> String? {
        let found: Session? = sessions.withLock { sessions in
            guard var session = sessions[token] else { return nil }
            if isExpired(session, now: now) {
                sessions[token] = nil
                return nil
            }
            session.lastSeen = now
            sessions[token] = session
            return session
        }
        guard let found else { return nil }
        guard now.timeIntervalSince(found.checked) >= policy.recheckInterval else { return found.administrator }
        // Read outside the lock: the account store may take a moment.
        let current = currentCredential(found.administrator)
        return sessions.withLock { sessions in
            guard current == found.credential else {
                sessions[token] = nil
                return nil
            }
            sessions[token]?.checked = now
            return sessions[token] == nil ? nil : found.administrator
        }
    }

    /// Ends one session (sign-out). Returns the administrator it belonged to.
    @discardableResult
    public func close(_ token: String) -> String? {
        sessions.withLock { $0.removeValue(forKey: token)?.administrator }
    }

    public var openCount: Int { sessions.withLock { $0.count } }

    private func isExpired(_ session: Session, now: Date) -> Bool {
        now.timeIntervalSince(session.lastSeen) >= policy.idleTimeout || now.timeIntervalSince(session.opened) >= policy.lifetime
    }

    /// 256 bits from the system's cryptographic generator, as hex. (Domain cannot use WebServer's
    /// `RandomToken`; this is the same recipe.)
    static func newToken() -> String {
        var generator = SystemRandomNumberGenerator()
        var token = ""
        token.reserveCapacity(64)
        for _ in 0..<4 {
            let word: UInt64 = generator.next()
            let hex = String(word, radix: 16)
            token += String(repeating: "0", count: 16 - hex.count) + hex
        }
        return token
    }
}

/// Slows down guessing: after a few failed sign-ins from one client, that client must wait
/// before it may try again, and the wait doubles with each further failure (capped). A success
/// forgets the client's failures. Counts are kept for a bounded number of clients.
///
/// A client is an IPv4 address, or an IPv6 /64: one host normally holds a whole /64 and could
/// otherwise rotate through 2^64 addresses, each with fresh free failures (see `key(for:)`).
public final class SignInThrottle: Sendable {
    public struct Policy: Sendable {
        public var freeFailures: Int = 5
        public var firstDelay: TimeInterval = 1
        public var maximumDelay: TimeInterval = 300
        /// Failures older than this are forgotten.
        public var memory: TimeInterval = 15 * 60
        public var maximumAddresses: Int = 10_000
        public init() {}
    }

    struct Record {
        var failures: Int
        var lastFailure: Date
    }

    private let records = Mutex<[String: Record]>([:])
    private let policy: Policy

    public init(policy: Policy = Policy()) {
        self.policy = policy
    }

    /// Seconds `address` must still wait before its next attempt, or nil when it may try now.
    public func waitTime(for address: String, now: Date) -> TimeInterval? {
        let address = Self.key(for: address)
        return records.withLock { records in
            guard let record = records[address] else { return nil }
            let remaining = delay(after: record.failures) - now.timeIntervalSince(record.lastFailure)
            return remaining > 0 ? remaining : nil
        }
    }

    public func recordFailure(from address: String, now: Date) {
        let address = Self.key(for: address)
        records.withLock { records in
            var record = records[address] ?? Record(failures: 0, lastFailure: now)
            if now.timeIntervalSince(record.lastFailure) > policy.memory { record.failures = 0 }
            record.failures += 1
            record.lastFailure = now
            if records[address] == nil, records.count >= policy.maximumAddresses {
                records = records.filter { now.timeIntervalSince($0.value.lastFailure) <= policy.memory }
                if records.count >= policy.maximumAddresses, let oldest = records.min(by: { $0.value.lastFailure < $1.value.lastFailure }) {
                    records[oldest.key] = nil
                }
            }
            records[address] = record
        }
    }

    public func recordSuccess(from address: String) {
        let address = Self.key(for: address)
        _ = records.withLock { $0.removeValue(forKey: address) }
    }

    /// The wait imposed after `failures` failures in a row.
    func delay(after failures: Int) -> TimeInterval {
        guard failures >= policy.freeFailures else { return 0 }
        let doublings = min(failures - policy.freeFailures, 30)
        return min(policy.maximumDelay, policy.firstDelay * pow(2, Double(doublings)))
    }
}

extension SignInThrottle {
    /// The client an address belongs to: an IPv6 address's first 64 bits (`2001:db8:1:2::/64`),
    /// an IPv4-mapped IPv6 address's IPv4 address, any other text unchanged.
    public static func key(for address: String) -> String {
        guard let words = ipv6Words(address) else { return address }
        if words[0..<5].allSatisfy({ $0 == 0 }), words[5] == 0xFFFF {
            return "\(words[6] >> 8).\(words[6] & 0xFF).\(words[7] >> 8).\(words[7] & 0xFF)"
        }
        return words[0..<4].map { String($0, radix: 16) }.joined(separator: ":") + "::/64"
    }

    /// The eight 16-bit words of an IPv6 address in text form (RFC 4291 §2.2, with an optional
    /// `%zone`), or nil when it is not one.
    static func ipv6Words(_ text: String) -> [UInt16]? {
        let address = text.split(separator: "%", maxSplits: 1, omittingEmptySubsequences: false)[0]
        guard address.contains(":"), address.utf8.count <= 45 else { return nil }
        let halves = address.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func words(_ part: String, mayEndInIPv4: Bool) -> [UInt16]? {
            guard !part.isEmpty else { return [] }
            let groups = part.split(separator: ":", omittingEmptySubsequences: false)
            var result: [UInt16] = []
            for (index, group) in groups.enumerated() {
                if index == groups.count - 1, mayEndInIPv4, group.contains(".") {
                    let octets = group.split(separator: ".", omittingEmptySubsequences: false).compactMap { octet -> UInt16? in
                        guard (1...3).contains(octet.utf8.count), octet.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let value = UInt16(octet), value <= 255 else { return nil }
                        return value
                    }
                    guard octets.count == 4, !group.hasSuffix(".") else { return nil }
                    result += [octets[0] << 8 | octets[1], octets[2] << 8 | octets[3]]
                } else {
                    guard (1...4).contains(group.utf8.count), group.unicodeScalars.allSatisfy(\.properties.isASCIIHexDigit),
                          let value = UInt16(group, radix: 16) else { return nil }
                    result.append(value)
                }
            }
            return result
        }
        if halves.count == 1 {
            guard let all = words(halves[0], mayEndInIPv4: true), all.count == 8 else { return nil }
            return all
        }
        guard let head = words(halves[0], mayEndInIPv4: false), let tail = words(halves[1], mayEndInIPv4: true),
              head.count + tail.count <= 7 else { return nil }
        return head + [UInt16](repeating: 0, count: 8 - head.count - tail.count) + tail
    }
}
