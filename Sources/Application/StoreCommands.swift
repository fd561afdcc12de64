import Foundation
import Storage

/// The command-line actions on a data folder's database: tokens, backup and restore.
public enum StoreCommands {
    public struct Refusal: Error, CustomStringConvertible {
        public let description: String
    }

    /// Opens the folder's database (made and migrated if new) for one command.
    public static func withDatabase<T>(_ dataDirectory: String, _ body: (VnetdDatabase) throws -> T) throws -> T {
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let database = try VnetdDatabase(directory: dataDirectory)
        defer { try? database.close() }
        return try body(database)
    }

    /// A consistent copy, whether vnetd runs or not.
    public static func backup(dataDirectory: String, to file: String) throws -> DatabaseBackup.Summary {
        try DatabaseBackup.backup(dataDirectory: dataDirectory, to: file)
    }

    /// Replaces the database by `file`, only while no vnetd serves from the folder (its lock is
    /// taken for the time of the restore, so none can start meanwhile). Returns the kept old file.
    public static func restore(dataDirectory: String, from file: String) throws -> String? {
        guard FileManager.default.fileExists(atPath: file) else { throw Refusal(description: "there is no file \(file)") }
        let lock: DataFolderLock
        do {
            lock = try DataFolderLock.acquire(dataDirectory)
        } catch let error as StartupError where !error.description.contains("already serving") {
            throw error
        } catch {
            let pid = (try? String(contentsOfFile: (dataDirectory as NSString).appendingPathComponent("vnetd.lock"), encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines)
            throw Refusal(description: "vnetd\(pid.map { " (pid \($0))" } ?? "") is running with the data folder \(dataDirectory): stop it first (systemctl stop vnetd), then restore; nothing was changed")
        }
        defer { lock.release() }
        return try DatabaseBackup.restore(from: file, into: dataDirectory)
    }
}
