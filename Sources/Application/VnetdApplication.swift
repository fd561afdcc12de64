import AdminSite
import Credentials
import Dataplane
import Domain
import HostNet
import HostSetup
import Foundation
import Logging
import Packets
import Storage
import WebServer

struct SystemHostNetworks: HostNetworksReading {
    func ipv4Networks() -> [(network: IPv4Address, mask: IPv4Address)] { HostAddresses.ipv4Networks() }
}

/// Who listens on the host's ports, in vnetd's network namespace (/proc/net and /proc/<pid>/fd).
struct SystemHostPorts: HostPortsReading {
    func listener(_ proto: PortForwardProtocol, port: Int, address: IPv4Address?) -> String? {
        guard let found = HostPorts.listeners(proto.rawValue, port: port, address: address).first else { return nil }
        let owner = HostPorts.owner(of: found.inode) ?? "a process vnetd cannot see"
        return "\(owner) on \(found.address):\(found.port)"
    }
}

public struct SystemClock: Domain.Clock {
    public init() {}
    public func now() -> Date { Date() }
}

public struct StartupError: Error, CustomStringConvertible {
    public let description: String
}

public let vnetdVersion = "0.1.0"

/// A running vnetd: the store, the admin site and the HTTP server, wired together.
/// `main` and the tests build it the same way, through `buildApplication`.
public final class VnetdApplication: Sendable {
    public let configuration: Configuration
    public let database: VnetdDatabase
    public let events: EventRecorder
    public let server: HTTPServer
    public let dataplane: Dataplane
    /// The services the pages use, for tools and tests that drive vnetd the same way.
    public let services: SiteDependencies
    /// Set when this start created the first administrator: the file holding its password.
    public let initialPasswordFile: String?
    let logger: Logger

    /// The bound port (differs from the configured one when that is 0).
    public var port: UInt16 { server.port }

    let lock: DataFolderLock
    let pruning: EventPruning

    init(configuration: Configuration, database: VnetdDatabase, events: EventRecorder, server: HTTPServer, dataplane: Dataplane, services: SiteDependencies,
         initialPasswordFile: String?, lock: DataFolderLock, pruning: EventPruning, logger: Logger) {
        self.lock = lock
        self.pruning = pruning
        self.initialPasswordFile = initialPasswordFile
        self.dataplane = dataplane
        self.services = services
        self.configuration = configuration
        self.database = database
        self.events = events
        self.server = server
        self.logger = logger
    }

    /// Records the stop, stops serving (open requests finish) and closes the store.
    public func shutdown() {
        server.stop()
        pruning.stop()
        dataplane.shutdown()
        do {
            try events.record(.serverStopped, .server, "vnetd stopped.")
            try database.close()
        } catch {
            logger.error("could not record the stop", metadata: ["error": "\(error)"])
        }
        lock.release()
    }
}

/// Opens the data folder, loads templates, starts serving and records the start.
/// Every failure is a `StartupError` with one line a person can act on.
public func buildApplication(
    _ configuration: Configuration,
    clock: any Domain.Clock = SystemClock(),
    logger: Logger = Logger(label: "vnetd")
) throws -> VnetdApplication {
    try SiteSecurity.checkTransport(configuration)
    OpenFileLimit.raise(toServe: configuration.connectionLimit, logger: logger)
    let lock = try DataFolderLock.acquire(configuration.dataDirectory)
    do {
        return try buildApplication(configuration, clock: clock, logger: logger, holding: lock)
    } catch {
        lock.release()
        throw error
    }
}

private func buildApplication(
    _ configuration: Configuration, clock: any Domain.Clock, logger: Logger, holding lock: DataFolderLock
) throws -> VnetdApplication {
    let tlsIdentity = try SiteSecurity.identity(for: configuration, now: clock.now(), logger: logger)
    let database = try openDatabase(in: configuration.dataDirectory, logger: logger)
    let renderer: TemplateRenderer
    do {
        renderer = try TemplateRenderer(directory: configuration.templatesDirectory)
    } catch {
        throw StartupError(description: "\(error)")
    }
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: configuration.publicDirectory, isDirectory: &isDirectory), isDirectory.boolValue else {
        throw StartupError(description: "static file folder \(configuration.publicDirectory) does not exist")
    }

    let eventLog = SQLiteEventLog(database: database)
    let recorder = EventRecorder(log: eventLog, clock: clock)
    let startedAt = clock.now()
    let info = ServerInfo(
        version: vnetdVersion,
        hostName: ProcessInfo.processInfo.hostName,
        listenAddress: "\(configuration.usesTLS ? "https" : "http")://\(configuration.listen)/",
        dataDirectory: (configuration.dataDirectory as NSString).standardizingPath,
        startedAt: startedAt)
    let store = SQLiteInventoryStore(database: database)
    let socketGroup = try SocketGroup.prepare(
        runtimeDirectory: configuration.runtimeDirectory, group: try SocketGroup.resolve(configuration, logger: logger),
        explicit: configuration.socketGroupIsExplicit, logger: logger)
    let dataplane: Dataplane
    do {
        let leases = SQLiteLeaseStore(database: database)
        dataplane = try Dataplane(
            configuration: Dataplane.Configuration(runtimeDirectory: configuration.runtimeDirectory, threads: configuration.dataplaneThreads).withDNS(of: configuration).withSocketGroup(socketGroup),
            leaseStore: leases, clock: clock, logger: logger)
        dataplane.operationalEvents.connect(eventLog, clock: clock, logger: logger)
        let (networks, nics, bindings, vms, dhcp) = try store.read { db in
            (try db.allNetworks(), try db.allNICs(), try db.adapterBindings(), try db.vms(offset: 0, limit: Int.max), try db.allDHCPSettings())
        }
        let stormControl = try store.read { try $0.allStormControl() }
        let forwards = try store.read { try $0.allPortForwards() }
        dataplane.start(networks: networks, nics: nics, bindings: bindings,
                        vmNames: Dictionary(uniqueKeysWithValues: vms.map { ($0.vm.id, $0.vm.name) }),
                        stormControl: stormControl, dhcp: dhcp, forwards: forwards)
    } catch {
        throw StartupError(description: "cannot start the switching core in \(configuration.runtimeDirectory): \(error)")
    }
    let administrators = AdministratorService(store: SQLiteAdministratorStore(database: database), hasher: YescryptPasswordHasher(), clock: clock)
    let initialPasswordFile: String?
    do {
        initialPasswordFile = try SiteSecurity.ensureFirstAdministrator(administrators, configuration: configuration, logger: logger)
    } catch {
        dataplane.shutdown()
        throw error as? StartupError ?? StartupError(description: "cannot create the first administrator: \(error)")
    }
    let access = AccessControl(
        administrators: administrators,
        sessions: AccessControl.sessions(for: administrators, policy: configuration.sessionPolicy),
        secureCookies: configuration.usesTLS,
        passwordChanged: { name in SiteSecurity.forgetFirstPassword(afterChanging: name, in: configuration) })
    let discovery = configuration.adapterDiscovery ?? SysfsAdapterDiscovery(scanner: HostInterfaceScanner())
    var dependencies = SiteDependencies(
        eventLog: eventLog, store: store,
        networks: NetworkService(store: store, clock: clock, dataplane: dataplane, adapters: discovery, hostNetworks: SystemHostNetworks()),
        vms: VirtualMachineService(store: store, clock: clock, dataplane: dataplane),
        adapters: AdapterService(store: store, clock: clock, dataplane: dataplane, discovery: discovery),
        dhcp: DHCPService(store: store, clock: clock, dataplane: dataplane, hostNetworks: SystemHostNetworks()),
        status: dataplane, changes: database, clock: clock, info: info, access: access)
    dependencies.portForwards = PortForwardService(store: store, clock: clock, dataplane: dataplane, hostPorts: SystemHostPorts())
    let metrics = MetricsSettings(
        access: MetricsAccess(tokens: MetricsTokens(database: database), allowedClients: configuration.metricsAllowedClients),
        requests: RequestCounter(), process: { ProcessFacts.current() })
    let responder = AdminSite.makeResponder(
        dependencies: dependencies, renderer: renderer,
        publicDirectory: configuration.publicDirectory, logger: logger, metrics: metrics)

    let server: HTTPServer
    do {
        server = try HTTPServer(
            configuration: HTTPServerConfiguration(
                listen: configuration.listen,
                threads: configuration.threads,
                connectionLimit: configuration.connectionLimit,
                connectionsPerClient: configuration.connectionsPerClient,
                serverNames: configuration.serverNames,
                maximumBodySize: configuration.maximumBodySize,
                tls: tlsIdentity),
            responder: responder,
            logger: logger)
    } catch {
        dataplane.shutdown()
        throw StartupError(description: "\(error)")
    }
    do {
        try recorder.record(.serverStarted, .server, "vnetd \(vnetdVersion) started, administration site on \(configuration.listen.host):\(server.port).")
    } catch {
        server.stop()
        dataplane.shutdown()
        throw StartupError(description: "cannot write to the database \(database.path): \(error)")
    }
    return VnetdApplication(
        configuration: configuration, database: database, events: recorder, server: server, dataplane: dataplane, services: dependencies,
        initialPasswordFile: initialPasswordFile, lock: lock,
        pruning: EventPruning(pruner: EventPruner(log: eventLog, retention: EventRetention(
            maximumCount: configuration.eventRetention, maximumAge: configuration.eventRetentionAge)), clock: clock, logger: logger),
        logger: logger)
}

/// Opens (and creates) the data folder. It holds the database, password hashes and keys, so it
/// is kept private to its owner: a folder others can read or enter is tightened to 0700.
private func openDatabase(in directory: String, logger: Logger) throws -> VnetdDatabase {
    let manager = FileManager.default
    do {
        try manager.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    } catch {
        throw StartupError(description: "cannot create the data folder \(directory): \(error.localizedDescription)")
    }
    var status = stat()
    if stat(directory, &status) == 0, status.st_uid == geteuid(), status.st_mode & 0o077 != 0 {
        if chmod(directory, 0o700) == 0 {
            logger.notice("made the data folder \(directory) private to its owner (mode 0700)")
        } else {
            logger.warning("the data folder \(directory) can be read by other users and could not be made private")
        }
    }
    guard manager.isWritableFile(atPath: directory), manager.isReadableFile(atPath: directory) else {
        throw StartupError(description: "the data folder \(directory) is not readable and writable by this user")
    }
    do {
        return try VnetdDatabase(directory: directory)
    } catch {
        throw StartupError(description: "cannot open the database in \(directory): \(error)")
    }
}
