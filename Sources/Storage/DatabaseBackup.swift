import Foundation
import GRDB

#if canImport(Glibc)
import Glibc
#endif

/// Copies of the store, for `vnetd backup` and `vnetd restore`.
///
/// A backup is SQLite's online backup of the whole file in one step, under one read
/// transaction: a consistent snapshot even while vnetd writes (in WAL mode its writes go on
/// meanwhile). A restore checks the copy first (a SQLite file, intact, of a schema this vnetd
/// knows) and keeps the database it replaces beside it.
public enum DatabaseBackup {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public struct Summary: Sendable, Equatable {
        public var bytes: Int
        public var migrations: [String]
    }

    /// Writes a consistent copy of the data folder's database to `file` (mode 0600: it holds
    /// password hashes), through a temporary file renamed into place.
    @discardableResult
    public static func backup(dataDirectory: String, to file: String) throws -> Summary {
        let source = (dataDirectory as NSString).appendingPathComponent(VnetdDatabase.fileName)
        guard FileManager.default.fileExists(atPath: source) else {
            throw Failure(description: "there is no database in \(dataDirectory) (\(source) is missing)")
        }
        let temporary = file + ".part-\(getpid())"
        try? FileManager.default.removeItem(atPath: temporary)
        do {
            var configuration = GRDB.Configuration()
            configuration.busyMode = .timeout(10)
            configuration.label = "vnetd-backup-source"
            let reader = try DatabaseQueue(path: source, configuration: configuration)
            defer { try? reader.close() }
            let created = FileManager.default.createFile(atPath: temporary, contents: nil, attributes: [.posixPermissions: 0o600])
            guard created else { throw Failure(description: "cannot write \(temporary)") }
            let destination = try DatabaseQueue(path: temporary)
            try reader.backup(to: destination)
            // One file, no -wal beside it: the copy stands alone.
            try destination.writeWithoutTransaction { try $0.execute(sql: "PRAGMA journal_mode = DELETE") }
            try destination.close()
            let summary = try check(temporary)
            guard rename(temporary, file) == 0 else {
                throw Failure(description: "cannot move the copy to \(file): \(String(cString: strerror(errno)))")
            }
            return summary
        } catch let error as Failure {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw Failure(description: "cannot back up \(source) to \(file): \(error)")
        }
    }

    /// Replaces the data folder's database by the copy in `file`. The caller holds the data
    /// folder's lock (no vnetd runs). The database replaced stays as `vnetd.sqlite.before-restore-TIME`.
    /// Returns the path of the kept one, nil when there was none.
    @discardableResult
    public static func restore(from file: String, into dataDirectory: String, now: Date = Date()) throws -> String? {
        _ = try check(file)
        let target = (dataDirectory as NSString).appendingPathComponent(VnetdDatabase.fileName)
        let incoming = target + ".restoring"
        try? FileManager.default.removeItem(atPath: incoming)
        do {
            let source = try DatabaseQueue(path: file, configuration: readOnly())
            defer { try? source.close() }
            guard FileManager.default.createFile(atPath: incoming, contents: nil, attributes: [.posixPermissions: 0o600]) else {
                throw Failure(description: "cannot write \(incoming)")
            }
            let destination = try DatabaseQueue(path: incoming)
            try source.backup(to: destination)
            try destination.close()
        } catch let error as Failure {
            throw error
        } catch {
            try? FileManager.default.removeItem(atPath: incoming)
            throw Failure(description: "cannot read the backup \(file): \(error)")
        }
        // A restore run as root (sudo) into the service's folder must leave a file the service,
        // which owns the folder, can open: the copy takes the folder's owner and group.
        var folder = stat()
        if stat(dataDirectory, &folder) == 0, folder.st_uid != getuid() || folder.st_gid != getgid() {
            guard chown(incoming, folder.st_uid, folder.st_gid) == 0 else {
                let reason = String(cString: strerror(errno))
                try? FileManager.default.removeItem(atPath: incoming)
                throw Failure(description: "cannot give the restored database to the data folder's owner (uid \(folder.st_uid), gid \(folder.st_gid)): \(reason)")
            }
        }
        var kept: String?
        if FileManager.default.fileExists(atPath: target) {
            // Whatever is still in the old file's write-ahead log goes into it before it is set aside.
            do {
                let old = try DatabaseQueue(path: target)
                try old.writeWithoutTransaction { try $0.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
                try old.close()
            } catch {
                try? FileManager.default.removeItem(atPath: incoming)
                throw Failure(description: "cannot set the current database \(target) aside: \(error)")
            }
            let stamp = ISO8601DateFormatter().string(from: now).replacingOccurrences(of: ":", with: "")
            let aside = target + ".before-restore-" + stamp
            guard rename(target, aside) == 0 else {
                try? FileManager.default.removeItem(atPath: incoming)
                throw Failure(description: "cannot rename \(target): \(String(cString: strerror(errno)))")
            }
            kept = aside
            for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: target + suffix) }
        }
        guard rename(incoming, target) == 0 else {
            throw Failure(description: "cannot move the restored database into place: \(String(cString: strerror(errno)))")
        }
        return kept
    }

    /// What a copy holds, after checking it can be used: SQLite, intact, a schema this vnetd knows.
    public static func check(_ file: String) throws -> Summary {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: file), let size = attributes[.size] as? Int else {
            throw Failure(description: "cannot read \(file)")
        }
        do {
            let queue = try DatabaseQueue(path: file, configuration: readOnly())
            defer { try? queue.close() }
            return try queue.read { db in
                let integrity = try String.fetchAll(db, sql: "PRAGMA integrity_check")
                guard integrity == ["ok"] else {
                    throw Failure(description: "\(file) is damaged (SQLite's integrity check: \(integrity.prefix(3).joined(separator: "; ")))")
                }
                guard try db.tableExists("grdb_migrations") else {
                    throw Failure(description: "\(file) is not a vnetd database (no migrations table)")
                }
                if try Migrations.migrator.hasBeenSuperseded(db) {
                    throw Failure(description: "\(file) was written by a newer vnetd (its schema has migrations this version does not know); restore it with that version")
                }
                return Summary(bytes: size, migrations: try Migrations.migrator.appliedIdentifiers(db).sorted {
                    (Migrations.order[$0] ?? 0) < (Migrations.order[$1] ?? 0)
                })
            }
        } catch let error as Failure {
            throw error
        } catch {
            throw Failure(description: "\(file) is not a SQLite database vnetd can read: \(error)")
        }
    }

    private static func readOnly() -> GRDB.Configuration {
        var configuration = GRDB.Configuration()
        configuration.readonly = true
        return configuration
    }
}
