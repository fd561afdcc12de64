import AdminSite
import Application
import Dataplane
import Domain
import Foundation
import Logging
import Synchronization
import Testing
import TestSupport
import WebServer

/// Log records at error level and above, kept for the test to look at.
final class ErrorRecords: @unchecked Sendable {
    let lines = Mutex<[String]>([])

    var logger: Logger {
        var logger = Logger(label: "it") { [self] label in Handler(records: self) }
        logger.logLevel = .error
        return logger
    }

    struct Handler: LogHandler {
        let records: ErrorRecords
        var logLevel: Logger.Level = .error
        var metadata: Logger.Metadata = [:]
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            guard event.level >= .error else { return }
            let extra = (event.metadata ?? [:]).map { "\($0)=\($1)" }.sorted().joined(separator: " ")
            records.lines.withLock { $0.append("\(event.level) \(event.message) \(extra)") }
        }
    }
}

/// A real vnetd (HTTP server, store, switching core) on a temporary data folder. Every record
/// it logs at error level or above fails the test, unless the test expects it
/// (`expectedErrors`): a lease batch that failed, a port that could not open or a page that
/// failed inside must not pass unseen.
final class VnetdUnderTest {
    let folder: TemporaryDirectory
    private(set) var application: VnetdApplication
    let configuration: Configuration
    let errors = ErrorRecords()
    var expectedErrors: [String] = []

    /// `dataDirectory`: where the store goes (a file system the test made); default: a fresh folder.
    /// `dataplaneThreads`: the data path's loops; default: one per core, as `vnetd serve`.
    init(adapters: [DiscoveredAdapter]? = nil, dataDirectory: String? = nil, dataplaneThreads: Int? = nil) throws {
        folder = try TemporaryDirectory()
        let logger = errors.logger
        var configuration = Configuration(
            listen: ListenAddress(host: "127.0.0.1", port: 0),
            dataDirectory: dataDirectory ?? folder.path + "/data",
            templatesDirectory: repositoryRoot + "/Templates",
            publicDirectory: repositoryRoot + "/Public",
            threads: 2,
            adapterDiscovery: adapters.map(FixedAdapters.init))
        if let dataplaneThreads { configuration.dataplaneThreads = dataplaneThreads }
        self.configuration = configuration
        application = try buildApplication(configuration, logger: logger)
    }

    var services: SiteDependencies { application.services }

    func restart() throws {
        application.shutdown()
        application = try buildApplication(configuration, logger: errors.logger)
    }

    /// Waits for posted dataplane changes to take effect.
    func settle() { application.dataplane.settle() }

    func nic(of vm: VirtualMachine) throws -> VirtualNIC {
        guard let nic = try services.store.read({ try $0.nics(of: vm.id) }).first else {
            throw CommandFailure(description: "VM has no NIC")
        }
        return nic
    }

    /// Creates a VM with one TAP adapter on `network`, returns the VM and its TAP's name.
    func tapVM(_ name: String, on network: NetworkID?) throws -> (VirtualMachine, String) {
        let vm = try services.vms.create(name: name, notes: "", connectingTo: network)
        let nic = try nic(of: vm)
        try services.vms.configureNICs(of: vm.id, version: try services.store.read { try $0.vm(vm.id) }!.version, [
            NICSetting(nicID: nic.id, networkID: network, assignment: .dynamic, backend: .tap),
        ])
        settle()
        return (vm, Dataplane.tapName(nic.id))
    }

    deinit {
        application.shutdown()
        folder.remove()
        let unexpected = errors.lines.withLock { $0 }.filter { line in !expectedErrors.contains { line.contains($0) } }
        if !unexpected.isEmpty { Issue.record("vnetd logged errors: \(unexpected.prefix(5))") }
    }
}
