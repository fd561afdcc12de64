import Domain
import Foundation
import GRDB

public struct SQLiteEventLog: EventLog {
    private let database: VnetdDatabase

    public init(database: VnetdDatabase) {
        self.database = database
    }

    @discardableResult
    public func append(_ event: Event) throws -> Event {
        try database.write { db in
            try Self.insert(event, db)
        }
    }

    public func page(offset: Int, limit: Int, matching query: EventQuery) throws -> EventPage {
        let (condition, arguments) = Self.conditions(query)
        return try database.writer.read { db in
            let total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM event\(condition)", arguments: arguments) ?? 0
            let rows = try Row.fetchAll(db, sql: """
                SELECT id, occurred_at, kind, subject_kind, subject_id, subject_name, message, actor
                FROM event\(condition) ORDER BY occurred_at DESC, id DESC LIMIT ? OFFSET ?
                """, arguments: arguments + [max(0, limit), max(0, offset)])
            var events = rows.map(Self.event)
            // A full disk cannot be written down yet: shown first, from memory, until it can.
            guard let outage = database.currentOutage else { return EventPage(events: events, totalCount: total) }
            if offset == 0 && limit > 0 { events.insert(outage.event(endedAt: nil), at: 0) }
            return EventPage(events: Array(events.prefix(max(0, limit))), totalCount: total + 1)
        }
    }

    /// A WHERE clause for `query` (empty when it matches everything); values are bound, never spliced.
    static func conditions(_ query: EventQuery) -> (String, StatementArguments) {
        var parts: [String] = []
        var arguments: StatementArguments = []
        if let category = query.category {
            parts.append("substr(kind, 1, ?) = ?")
            arguments += [category.utf8.count + 1, category + "."]
        }
        switch query.level {
        case .error?: parts.append("(kind LIKE '%.failed' OR kind LIKE '%.error')")
        case .warning?: parts.append("(kind LIKE '%.warning' OR kind LIKE '%.missing')")
        case .information?: parts.append("NOT (kind LIKE '%.failed' OR kind LIKE '%.error' OR kind LIKE '%.warning' OR kind LIKE '%.missing')")
        case nil: break
        }
        if let kind = query.subjectKind {
            parts.append("subject_kind = ?")
            arguments += [kind.rawValue]
        }
        if let id = query.subjectID {
            parts.append("subject_id = ?")
            arguments += [id]
        }
        if let ids = query.ids {
            parts.append("id BETWEEN ? AND ?")
            arguments += [ids.lowerBound, ids.upperBound]
        }
        if let actor = query.actor {
            parts.append("actor = ?")
            arguments += [actor]
        }
        return (parts.isEmpty ? "" : " WHERE " + parts.joined(separator: " AND "), arguments)
    }

    /// One short transaction: finds the oldest event still kept by count (an index walk of
    /// `count` rows on event_by_time), then deletes the oldest `limit` rows before it or before `cutoff`.
    public func prune(keepingNewest count: Int, olderThan cutoff: Date?, limit: Int) throws -> Int {
        guard limit > 0 else { return 0 }
        return try database.write { db in
            var conditions: [String] = []
            var arguments: StatementArguments = []
            if let oldestKept = try Row.fetchOne(db, sql: """
                SELECT occurred_at, id FROM event ORDER BY occurred_at DESC, id DESC LIMIT 1 OFFSET ?
                """, arguments: [max(0, count - 1)]) {
                let time: Int64 = oldestKept["occurred_at"], id: Int64 = oldestKept["id"]
                conditions.append("occurred_at < ? OR (occurred_at = ? AND id < ?)")
                arguments += [time, time, id]
            }
            if let cutoff {
                conditions.append("occurred_at < ?")
                arguments += [Self.milliseconds(cutoff)]
            }
            guard !conditions.isEmpty else { return 0 }
            arguments += [limit]
            try db.execute(sql: """
                DELETE FROM event WHERE id IN (
                    SELECT id FROM event WHERE \(conditions.map { "(\($0))" }.joined(separator: " OR "))
                    ORDER BY occurred_at, id LIMIT ?)
                """, arguments: arguments)
            return db.changesCount
        }
    }

    static func milliseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1000).rounded())
    }

    /// Inserts inside a caller's transaction, so a change and its event commit together.
    static func insert(_ event: Event, _ db: GRDB.Database) throws -> Event {
        try db.execute(sql: """
            INSERT INTO event (occurred_at, kind, subject_kind, subject_id, subject_name, message, actor)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            """, arguments: [
                milliseconds(event.time),
                event.kind.rawValue, event.subject.kind.rawValue, event.subject.id,
                event.subject.name, event.message, event.actor,
            ])
        var stored = event
        stored.id = db.lastInsertedRowID
        return stored
    }

    static func event(_ row: Row) -> Event {
        let milliseconds: Int64 = row["occurred_at"]
        let subjectKind: String = row["subject_kind"]
        return Event(
            id: row["id"],
            time: Date(timeIntervalSince1970: Double(milliseconds) / 1000),
            kind: EventKind(rawValue: row["kind"]),
            subject: EventSubject(
                kind: EventSubject.Kind(rawValue: subjectKind) ?? .server,
                id: row["subject_id"],
                name: row["subject_name"]),
            message: row["message"],
            actor: row["actor"])
    }
}
