import Credentials
import Domain
import Foundation
import Storage

/// The accounts in a data folder, for `vnetd user ...` (works while vnetd runs: SQLite in WAL
/// mode lets both write; a running vnetd notices a changed password within seconds).
public final class AdministratorAccounts {
    public let service: AdministratorService
    private let database: VnetdDatabase
    private let dataDirectory: String

    public init(dataDirectory: String, clock: any Domain.Clock = SystemClock()) throws {
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        self.dataDirectory = dataDirectory
        database = try VnetdDatabase(directory: dataDirectory)
        service = AdministratorService(store: SQLiteAdministratorStore(database: database), hasher: YescryptPasswordHasher(), clock: clock)
    }

    /// After `admin`'s first password is changed, the file holding it is stale: remove it.
    public func forgetInitialPassword(afterChanging name: String) {
        SiteSecurity.forgetFirstPassword(afterChanging: name, in: Configuration(dataDirectory: dataDirectory))
    }

    deinit { try? database.close() }
}
