import Foundation
import GRDB

/// The bearer tokens that may read `/metrics`, by name. Only a hash of each token is stored
/// (`sha256:` and 64 hex digits, computed by the caller): the token itself is shown once, when
/// it is made, and cannot be read back.
public struct SQLiteMetricsTokenStore: Sendable {
    private let database: VnetdDatabase

    public init(database: VnetdDatabase) {
        self.database = database
    }

    public struct Token: Sendable, Equatable {
        public var name: String
        public var createdAt: Date
    }

    public struct DuplicateName: Error, CustomStringConvertible {
        public let name: String
        public var description: String { "a metrics token named \(name) exists already; remove it first, or choose another name" }
    }

    public struct NoSuchToken: Error, CustomStringConvertible {
        public let name: String
        public var description: String { "there is no metrics token named \(name)" }
    }

    public func add(name: String, hash: String, at date: Date) throws {
        try database.write(refusing: .change) { db in
            guard try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM metrics_token WHERE name = ?", arguments: [name]) == 0 else {
                throw DuplicateName(name: name)
            }
            try db.execute(
                sql: "INSERT INTO metrics_token (name, token_hash, created_at) VALUES (?, ?, ?)",
                arguments: [name, hash, Int64((date.timeIntervalSince1970 * 1000).rounded())])
        }
    }

    public func remove(name: String) throws {
        try database.write(refusing: .change) { db in
            try db.execute(sql: "DELETE FROM metrics_token WHERE name = ?", arguments: [name])
            guard db.changesCount == 1 else { throw NoSuchToken(name: name) }
        }
    }

    public func list() throws -> [Token] {
        try database.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT name, created_at FROM metrics_token ORDER BY name").map { row in
                Token(name: row["name"], createdAt: Date(timeIntervalSince1970: TimeInterval(row["created_at"] as Int64) / 1000))
            }
        }
    }

    /// The name of the token with this hash, or nil.
    public func name(forHash hash: String) throws -> String? {
        try database.writer.read { db in
            try String.fetchOne(db, sql: "SELECT name FROM metrics_token WHERE token_hash = ?", arguments: [hash])
        }
    }
}
