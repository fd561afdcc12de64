import Domain
import Foundation
import GRDB

public struct SQLiteAdministratorStore: AdministratorStore {
    private let database: VnetdDatabase

    public init(database: VnetdDatabase) {
        self.database = database
    }

    public func administrator(named name: String) throws -> Administrator? {
        try database.writer.read { db in try AdministratorAccess(db: db).administrator(named: name) }
    }

    public func administrators() throws -> [Administrator] {
        try database.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM administrator ORDER BY name_key").map(AdministratorAccess.administrator)
        }
    }

    public func writeAdministrators<T>(_ body: (any AdministratorWriter) throws -> T) throws -> T {
        do {
            return try database.write(refusing: .change) { db in try body(AdministratorAccess(db: db)) }
        } catch let error as DatabaseError where error.resultCode == .SQLITE_FULL {
            throw ConstraintMapping.failure(for: error) ?? error
        }
    }
}

struct AdministratorAccess: AdministratorWriter {
    let db: GRDB.Database

    func administrator(named name: String) throws -> Administrator? {
        try Row.fetchOne(db, sql: "SELECT * FROM administrator WHERE name_key = ?", arguments: [AdministratorRules.key(name)])
            .map(Self.administrator)
    }

    func administratorCount() throws -> Int {
        try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM administrator") ?? 0
    }

    func insert(_ administrator: Administrator) throws {
        try db.execute(sql: """
            INSERT INTO administrator (name, name_key, password_hash, created_at, changed_at) VALUES (?, ?, ?, ?, ?)
            """, arguments: [
                administrator.name, AdministratorRules.key(administrator.name), administrator.passwordHash,
                Self.milliseconds(administrator.createdAt), Self.milliseconds(administrator.changedAt),
            ])
    }

    func update(_ administrator: Administrator) throws {
        try db.execute(sql: "UPDATE administrator SET password_hash = ?, changed_at = ? WHERE name_key = ?", arguments: [
            administrator.passwordHash, Self.milliseconds(administrator.changedAt), AdministratorRules.key(administrator.name),
        ])
    }

    func deleteAdministrator(named name: String) throws {
        try db.execute(sql: "DELETE FROM administrator WHERE name_key = ?", arguments: [AdministratorRules.key(name)])
    }

    func append(_ event: Event) throws {
        _ = try SQLiteEventLog.insert(event, db)
    }

    static func administrator(_ row: Row) -> Administrator {
        let created: Int64 = row["created_at"]
        let changed: Int64 = row["changed_at"]
        return Administrator(
            name: row["name"], passwordHash: row["password_hash"],
            createdAt: Date(timeIntervalSince1970: Double(created) / 1000),
            changedAt: Date(timeIntervalSince1970: Double(changed) / 1000))
    }

    static func milliseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }
}
