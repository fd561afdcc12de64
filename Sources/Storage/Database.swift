import Domain
import Foundation
import GRDB
import Synchronization

/// The SQLite store: one file, `vnetd.sqlite`, in the data folder.
///
/// Opened as a GRDB `DatabasePool`, so SQLite runs in WAL mode: page reads proceed while a
/// change is written. Foreign keys are enforced. Migrations run on open, before anything else
/// reads the file.
public final class VnetdDatabase: Sendable, ChangeTracking {
    public static let fileName = "vnetd.sqlite"
    public let path: String
    let writer: DatabasePool
    private let changes = Atomic<UInt64>(0)
    /// A connection of its own that only asks SQLite whether another process (`vnetd user add`)
    /// committed since it last asked (`PRAGMA data_version`), and how often that was seen.
    private let watcher: DatabaseQueue
    private let outsideChanges = Mutex<(version: Int64?, count: UInt64)>((nil, 0))

    /// Grows after every write transaction this process runs and after every commit another
    /// process made to the file (see `ChangeTracking`): pages cached on it miss neither.
    public var generation: UInt64 {
        let local = changes.load(ordering: .acquiring)
        let outside = outsideChanges.withLock { seen -> UInt64 in
            if let version = try? watcher.inDatabase({ try Int64.fetchOne($0, sql: "PRAGMA data_version") }) {
                if seen.version != nil && seen.version != version { seen.count &+= 1 }
                seen.version = version
            }
            return seen.count
        }
        return local &+ outside
    }

    private let outage = Mutex<StorageOutage?>(nil)

    /// Set while the disk holding the file is full (the last write failed with SQLITE_FULL).
    public var currentOutage: StorageOutage? { outage.withLock { $0 } }

    /// What a write refused for lack of space stands for, for the outage's event.
    enum Refused {
        case nothingCounted, change, leases(Int)
    }

    /// Runs one write transaction and counts it, committed or not (a rolled-back one only
    /// costs a cache miss).
    ///
    /// A full disk (SQLITE_FULL) rolls the transaction back whole, as SQLite promises, and opens
    /// an outage: nothing can be stored, not even an event saying so, so the outage is kept here
    /// (the Event Viewer shows it, `SQLiteEventLog.page`) and goes into the file as one event in
    /// the first transaction that commits once there is room again.
    func write<T>(refusing refused: Refused = .nothingCounted, _ body: (GRDB.Database) throws -> T) throws -> T {
        defer { changes.add(1, ordering: .releasing) }
        return try writer.writeWithoutTransaction { db in
            let pending = outage.withLock { $0 }
            do {
                var result: T?
                try db.inTransaction(.immediate) {
                    result = try body(db)
                    if let pending {
                        _ = try SQLiteEventLog.insert(pending.event(endedAt: Date()), db)
                    }
                    return .commit
                }
                if pending != nil { outage.withLock { $0 = nil } }
                return result!
            } catch let error as DatabaseError where error.resultCode == .SQLITE_FULL {
                outage.withLock { current in
                    var noted = current ?? StorageOutage(since: Date(), folder: (path as NSString).deletingLastPathComponent)
                    switch refused {
                    case .nothingCounted: break
                    case .change: noted.refusedChanges += 1
                    case .leases(let count): noted.refusedLeases += count
                    }
                    current = noted
                }
                throw error
            }
        }
    }

    public init(directory: String) throws {
        path = (directory as NSString).appendingPathComponent(Self.fileName)
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        configuration.busyMode = .timeout(5)
        configuration.label = "vnetd"
        // A file a newer vnetd has migrated is refused, not written with an older schema's rules,
        // and checked read-only first: opening the pool writes to the file (WAL set-up).
        if FileManager.default.fileExists(atPath: path) {
            var readOnly = Configuration()
            readOnly.readonly = true
            readOnly.label = "vnetd-version-check"
            let check = try DatabaseQueue(path: path, configuration: readOnly)
            let superseded = try check.read { try $0.tableExists("grdb_migrations") && Migrations.migrator.hasBeenSuperseded($0) }
            try check.close()
            if superseded { throw NewerDatabase(path: path) }
        }
        writer = try DatabasePool(path: path, configuration: configuration)
        try Migrations.migrator.migrate(writer)
        var watching = Configuration()
        watching.readonly = true
        watching.label = "vnetd-watcher"
        watcher = try DatabaseQueue(path: path, configuration: watching)
    }

    public struct NewerDatabase: Error, CustomStringConvertible {
        public let path: String
        public var description: String {
            "\(path) was written by a newer vnetd (its schema has migrations this version does not know); run that version, or restore a backup made before the upgrade"
        }
    }

    /// Names of the migrations already applied, oldest first.
    public func appliedMigrations() throws -> [String] {
        try writer.read { try Migrations.migrator.appliedIdentifiers($0) }.sorted {
            (Migrations.order[$0] ?? 0) < (Migrations.order[$1] ?? 0)
        }
    }

    /// SQLite's own check of every page, index and constraint: "ok" when the file is sound.
    public func integrityCheck() throws -> [String] {
        try writer.read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check") }
    }

    public func journalMode() throws -> String {
        try writer.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") ?? "" }
    }

    public func close() throws {
        try watcher.close()
        try writer.close()
    }
}

/// A time the disk holding the data folder was full, as the Event Viewer tells it.
public struct StorageOutage: Sendable, Equatable {
    public var since: Date
    public var folder: String
    /// Page and command-line changes refused.
    public var refusedChanges = 0
    /// DHCP leases not stored, so not acknowledged (their clients ask again).
    public var refusedLeases = 0

    /// While it lasts (`endedAt` nil) and once it is over.
    func event(endedAt: Date?) -> Event {
        let counts = "\(refusedChanges) change\(refusedChanges == 1 ? "" : "s") refused, " +
            "\(refusedLeases) DHCP lease\(refusedLeases == 1 ? "" : "s") not granted (not acknowledged, so the clients asked again)"
        let message = endedAt.map { end in
            "The disk holding the data folder \(folder) was full until \(Self.time(end)): nothing could be saved; \(counts). Saving resumed by itself."
        } ?? "The disk holding the data folder \(folder) is full: nothing can be saved; so far \(counts). Saving resumes by itself once space is freed."
        return Event(time: since, kind: .storageFull, subject: EventSubject(kind: .server, name: "vnetd"), message: message, actor: nil)
    }

    private static func time(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate, .withTime, .withColonSeparatorInTime, .withSpaceBetweenDateAndTime]
        return formatter.string(from: date) + " UTC"
    }
}
