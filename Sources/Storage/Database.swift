import Foundation
import GRDB

/// The SQLite store: one file, `vnetd.sqlite`, in the data folder.
///
/// Opened as a GRDB `DatabasePool`, so SQLite runs in WAL mode: page reads proceed while a
/// change is written. Foreign keys are enforced. Migrations run on open, before anything else
/// reads the file.
public final class VnetdDatabase: Sendable {
    public static let fileName = "vnetd.sqlite"
    public let path: String
    let writer: DatabasePool

    public init(directory: String) throws {
        path = (directory as NSString).appendingPathComponent(Self.fileName)
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        configuration.busyMode = .timeout(5)
        configuration.label = "vnetd"
        writer = try DatabasePool(path: path, configuration: configuration)
        try Migrations.migrator.migrate(writer)
    }

    /// Names of the migrations already applied, oldest first.
    public func appliedMigrations() throws -> [String] {
        try writer.read { try Migrations.migrator.appliedIdentifiers($0) }.sorted {
            (Migrations.order[$0] ?? 0) < (Migrations.order[$1] ?? 0)
        }
    }

    public func journalMode() throws -> String {
        try writer.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") ?? "" }
    }

    public func close() throws {
        try writer.close()
    }
}
