import Foundation

/// A local account allowed into the administration site.
public struct Administrator: Sendable, Equatable {
    public var name: String
    /// A self-describing slow salted hash (never the password).
    public var passwordHash: String
    public var createdAt: Date
    public var changedAt: Date

    public init(name: String, passwordHash: String, createdAt: Date, changedAt: Date) {
        self.name = name
        self.passwordHash = passwordHash
        self.createdAt = createdAt
        self.changedAt = changedAt
    }
}

/// Turns passwords into stored hashes and checks them. The implementation is a maintained
/// library's slow salted hash; tests of pure code may use a fast double.
public protocol PasswordHashing: Sendable {
    func hash(_ password: String) throws -> String
    func verify(_ password: String, against hash: String) -> Bool
}

public enum AdministratorRules {
    public static let nameLength = 1...32
    public static let passwordLength = 8...1024

    /// Account names are plain: letters, digits, `.`, `_` and `-`, starting with a letter or digit.
    public static func nameProblems(_ name: String) -> [Problem] {
        guard nameLength.contains(name.unicodeScalars.count) else {
            return [Problem(.administratorNameInvalid, field: "name", "An administrator name has 1 to 32 characters.")]
        }
        let allowed = name.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "._-".unicodeScalars.contains($0)) }
        guard allowed, let first = name.unicodeScalars.first, CharacterSet.alphanumerics.contains(first) else {
            return [Problem(.administratorNameInvalid, field: "name",
                            "An administrator name uses only letters, digits, “.”, “_” and “-”, and starts with a letter or digit.")]
        }
        return []
    }

    public static func passwordProblems(_ password: String) -> [Problem] {
        let length = password.count
        if length < passwordLength.lowerBound {
            return [Problem(.passwordTooShort, field: "password", "A password has at least \(passwordLength.lowerBound) characters.")]
        }
        if password.utf8.count > passwordLength.upperBound {
            return [Problem(.passwordTooLong, field: "password", "A password has at most \(passwordLength.upperBound) bytes.")]
        }
        if password.utf8.contains(0) {
            return [Problem(.passwordInvalid, field: "password", "A password cannot contain a NUL character.")]
        }
        return []
    }

    /// Names are unique ignoring case.
    public static func key(_ name: String) -> String { name.lowercased() }
}

/// Where accounts are kept.
public protocol AdministratorStore: Sendable {
    func administrator(named name: String) throws -> Administrator?
    func administrators() throws -> [Administrator]
    /// Runs `body` in one transaction; events appended there commit with the change.
    func writeAdministrators<T>(_ body: (any AdministratorWriter) throws -> T) throws -> T
}

public protocol AdministratorWriter {
    func administrator(named name: String) throws -> Administrator?
    func administratorCount() throws -> Int
    func insert(_ administrator: Administrator) throws
    func update(_ administrator: Administrator) throws
    func deleteAdministrator(named name: String) throws
    func append(_ event: Event) throws
}

/// Why a sign-in was refused. The page shows one message for both, so it never tells an
/// attacker which names exist.
public enum SignInRefusal: Error, Sendable, Equatable {
    case wrongNameOrPassword
    /// Too many failures from this address: wait this many seconds.
    case throttled(seconds: Int)
}

/// Adding accounts, changing passwords, and checking a sign-in.
public struct AdministratorService: Sendable {
    let store: any AdministratorStore
    let hasher: any PasswordHashing
    let clock: any Clock
    /// Hashed once, checked against when a name does not exist, so a missing account takes as
    /// long to refuse as a wrong password.
    private let decoyHash: String?

    public init(store: any AdministratorStore, hasher: any PasswordHashing, clock: any Clock) {
        self.store = store
        self.hasher = hasher
        self.clock = clock
        decoyHash = try? hasher.hash(UUID().uuidString)
    }

    public func list() throws -> [Administrator] { try store.administrators() }

    @discardableResult
    public func add(name: String, password: String) throws -> Administrator {
        let problems = AdministratorRules.nameProblems(name) + AdministratorRules.passwordProblems(password)
        guard problems.isEmpty else { throw ValidationFailure(problems) }
        let hash = try hasher.hash(password)
        let now = clock.now()
        return try store.writeAdministrators { db in
            guard try db.administrator(named: name) == nil else {
                throw ValidationFailure(.administratorNameTaken, field: "name", "There is already an administrator named “\(name)”.")
            }
            let administrator = Administrator(name: name, passwordHash: hash, createdAt: now, changedAt: now)
            try db.insert(administrator)
            try db.append(Event(time: now, kind: .administratorAdded, subject: .administrator(name), message: "Administrator “\(name)” was added."))
            return administrator
        }
    }

    /// Returns the account as stored now (its new hash).
    @discardableResult
    public func changePassword(name: String, to password: String) throws -> Administrator {
        let problems = AdministratorRules.passwordProblems(password)
        guard problems.isEmpty else { throw ValidationFailure(problems) }
        let hash = try hasher.hash(password)
        let now = clock.now()
        return try store.writeAdministrators { db in
            guard var administrator = try db.administrator(named: name) else {
                throw ValidationFailure(.administratorNotFound, field: "name", "There is no administrator named “\(name)”.")
            }
            administrator.passwordHash = hash
            administrator.changedAt = now
            try db.update(administrator)
            try db.append(Event(time: now, kind: .passwordChanged, subject: .administrator(administrator.name),
                                message: "The password of “\(administrator.name)” was changed."))
            return administrator
        }
    }

    public func remove(name: String) throws {
        let now = clock.now()
        try store.writeAdministrators { db in
            guard let administrator = try db.administrator(named: name) else {
                throw ValidationFailure(.administratorNotFound, field: "name", "There is no administrator named “\(name)”.")
            }
            guard try db.administratorCount() > 1 else {
                throw ValidationFailure(.lastAdministrator, field: "name", "“\(administrator.name)” is the only administrator; add another one first.")
            }
            try db.deleteAdministrator(named: administrator.name)
            try db.append(Event(time: now, kind: .administratorRemoved, subject: .administrator(administrator.name),
                                message: "Administrator “\(administrator.name)” was removed."))
        }
    }

    /// Creates `admin` with `password` when there is no account at all; returns whether it did.
    public func createFirstAdministrator(password: String) throws -> Bool {
        guard try store.administrators().isEmpty else { return false }
        do {
            try Acting.$administrator.withValue(nil) {
                _ = try add(name: "admin", password: password)
            }
            return true
        } catch let failure as ValidationFailure where failure.has(.administratorNameTaken) {
            return false
        }
    }

    /// The account when `password` is its password. Takes the hash's time whether or not the
    /// name exists.
    public func verify(name: String, password: String) throws -> Administrator? {
        guard password.utf8.count <= AdministratorRules.passwordLength.upperBound else { return nil }
        guard let administrator = try store.administrator(named: name) else {
            if let decoyHash { _ = hasher.verify(password, against: decoyHash) }
            return nil
        }
        return hasher.verify(password, against: administrator.passwordHash) ? administrator : nil
    }

    /// The stored hash of an account, which a session compares to detect a changed password.
    public func credential(of name: String) throws -> String? {
        try store.administrator(named: name)?.passwordHash
    }
}

extension EventSubject {
    public static func administrator(_ name: String) -> EventSubject {
        EventSubject(kind: .administrator, id: nil, name: name)
    }
}
