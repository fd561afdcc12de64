import AdminSite
import Credentials
import Domain
import Foundation
import Logging
import Packets
import Storage
import TestSupport
import WebServer

/// The admin site over a real temporary SQLite file and the repository's templates, called
/// in process (no sockets). `get`/`post` behave like a browser: they keep the CSRF cookie.
final class SiteFixture: @unchecked Sendable {
    let folder: TemporaryDirectory
    let database: VnetdDatabase
    let clock = ManualClock()
    let recorder: EventRecorder
    let store: SQLiteInventoryStore
    let adapters = TestAdapters([
        DiscoveredAdapter(name: "eth0", mac: MACAddress(parsing: "52:54:00:aa:bb:01"), isUp: true, hasCarrier: true, speedMbps: 1000, isWireless: false),
        DiscoveredAdapter(name: "eth1", mac: MACAddress(parsing: "52:54:00:aa:bb:02"), isUp: true, hasCarrier: false, speedMbps: nil, isWireless: false),
    ])
    let networks: NetworkService
    let vms: VirtualMachineService
    let bindings: AdapterService
    let dhcp: DHCPService
    let access: AccessControl
    let responder: any HTTPResponder
    let dependencies: SiteDependencies
    /// What the switching core reports; "not running" until a test sets a network's or port's state.
    let status = CannedStatus()
    /// What the DHCP service told the dataplane.
    let dataplane = RecordedChanges()
    private(set) var cookies: [String: String] = [:]
    var clientAddress = "192.0.2.10"
    static let administrator = "tester"
    static let password = "correct horse battery"

    /// `signedIn`: start with a session as `tester`, as every page test needs. The host is on no
    /// IPv4 network, so DHCP proposals start at 192.168.131.0/24.
    convenience init(signedIn: Bool = true, sessionPolicy: SessionPolicy = SessionPolicy()) throws {
        try self.init(signedIn: signedIn, sessionPolicy: sessionPolicy, hostNetworks: [])
    }

    /// Signed in, on a host that is on `hostNetworks`.
    convenience init(hostNetworks: [(network: IPv4Address, mask: IPv4Address)]) throws {
        try self.init(signedIn: true, sessionPolicy: SessionPolicy(), hostNetworks: hostNetworks)
    }

    init(signedIn: Bool, sessionPolicy: SessionPolicy, hostNetworks: [(network: IPv4Address, mask: IPv4Address)]) throws {
        folder = try TemporaryDirectory()
        database = try VnetdDatabase(directory: folder.path)
        let eventLog = SQLiteEventLog(database: database)
        recorder = EventRecorder(log: eventLog, clock: clock)
        let info = ServerInfo(
            version: "test", hostName: "testhost", listenAddress: "http://127.0.0.1:0/",
            dataDirectory: folder.path, startedAt: clock.now())
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        store = SQLiteInventoryStore(database: database)
        networks = NetworkService(store: store, clock: clock, dataplane: NoDataplane(), adapters: adapters)
        vms = VirtualMachineService(store: store, clock: clock, dataplane: NoDataplane())
        bindings = AdapterService(store: store, clock: clock, dataplane: NoDataplane(), discovery: adapters)
        dhcp = DHCPService(store: store, clock: clock, dataplane: dataplane, hostNetworks: CannedHostNetworks(hostNetworks))
        let administrators = AdministratorService(store: SQLiteAdministratorStore(database: database), hasher: YescryptPasswordHasher(), clock: clock)
        try administrators.add(name: Self.administrator, password: Self.password)
        access = AccessControl(
            administrators: administrators, sessions: AccessControl.sessions(for: administrators, policy: sessionPolicy), secureCookies: false)
        var dependencies = SiteDependencies(
            eventLog: eventLog, store: store, networks: networks, vms: vms, adapters: bindings,
            dhcp: dhcp,
            status: status, changes: database, clock: clock, info: info, access: access)
        dependencies.portForwards = PortForwardService(store: store, clock: clock, dataplane: dataplane, hostPorts: CannedHostPorts())
        self.dependencies = dependencies
        responder = AdminSite.makeResponder(
            dependencies: dependencies,
            renderer: try TemplateRenderer(directory: repositoryRoot + "/Templates"),
            publicDirectory: repositoryRoot + "/Public",
            logger: logger)
        if signedIn {
            let response = signIn()
            guard response.status == 303 else { throw SignInFailed(status: response.status) }
        }
    }

    struct SignInFailed: Error { let status: Int }

    /// Signs in through the form, as a browser would.
    @discardableResult
    func signIn(_ name: String = SiteFixture.administrator, password: String = SiteFixture.password, next: String? = nil) -> Response {
        var fields = [("name", name), ("password", password)]
        if let next { fields.append(("next", next)) }
        return post("/login", fields)
    }

    func forgetCookie(_ name: String) { cookies[name] = nil }

    func get(_ path: String) -> Response {
        let (pathOnly, query) = Self.split(path)
        return send(Request(method: "GET", path: pathOnly, query: query))
    }

    /// Posts a form with the page's CSRF token added, as the browser would.
    func post(_ path: String, _ fields: [(String, String)], withToken: Bool = true) -> Response {
        if cookies[CSRFProtection.cookieName] == nil { _ = get("/login") }
        var form = FormData()
        if withToken, let token = cookies[CSRFProtection.cookieName] { form.append(token, for: CSRFProtection.fieldName) }
        for (name, value) in fields { form.append(value, for: name) }
        return send(Request(method: "POST", path: path, form: form))
    }

    /// Posts a multipart form with one file, as a browser upload would arrive.
    func postFile(_ path: String, field: String, filename: String, content: [UInt8], fields: [(String, String)] = []) -> Response {
        if cookies[CSRFProtection.cookieName] == nil { _ = get("/login") }
        var form = FormData()
        if let token = cookies[CSRFProtection.cookieName] { form.append(token, for: CSRFProtection.fieldName) }
        for (name, value) in fields { form.append(value, for: name) }
        form.attach(UploadedFile(fieldName: field, filename: filename, contentType: "application/xml", content: content))
        return send(Request(method: "POST", path: path, form: form))
    }

    /// The id at the end of a 303's Location, e.g. the new network's.
    static func createdID(_ response: Response) -> String? {
        response.header("Location")?.split(separator: "/").last.map { String($0.split(separator: "?")[0]) }
    }

    func send(_ request: Request) -> Response {
        var request = request
        request.cookies = cookies
        request.clientAddress = request.clientAddress ?? clientAddress
        let response = responder.respond(to: request)
        for header in response.headers where header.name == "Set-Cookie" {
            let pair = header.value.split(separator: ";")[0].split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard pair.count == 2 else { continue }
            if pair[1].isEmpty || header.value.contains("Max-Age=0") {
                cookies[String(pair[0])] = nil
            } else {
                cookies[String(pair[0])] = String(pair[1])
            }
        }
        return response
    }

    static func split(_ path: String) -> (String, [String: String]) {
        guard let mark = path.firstIndex(of: "?") else { return (path, [:]) }
        var query: [String: String] = [:]
        for pair in path[path.index(after: mark)...].split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            query[String(parts[0])] = parts.count > 1 ? String(parts[1]).removingPercentEncoding ?? "" : ""
        }
        return (String(path[..<mark]), query)
    }

    deinit {
        try? database.close()
        folder.remove()
    }
}

/// A switching core's status, as set by the test: networks and ports not set are not running.
/// Port 22 is "in use" by sshd; every other port is free.
struct CannedHostPorts: HostPortsReading {
    func listener(_ proto: PortForwardProtocol, port: Int, address: IPv4Address?) -> String? {
        port == 22 ? "sshd (pid 812) on 0.0.0.0:22" : nil
    }
}

final class CannedStatus: RuntimeStatusReading, @unchecked Sendable {
    private let lock = NSLock()
    private var networks: [NetworkID: NetworkRuntimeStatus] = [:]
    private var ports: [NICID: PortRuntimeStatus] = [:]
    private var published: UInt64?

    func set(_ status: NetworkRuntimeStatus, for network: NetworkID) { lock.withLock { networks[network] = status } }
    /// Numbers the status as the data path does (then pages may be reused until the next number); nil by default.
    func publish(_ number: UInt64?) { lock.withLock { published = number } }
    var publication: UInt64? { lock.withLock { published } }
    func set(_ status: PortRuntimeStatus, for nic: NICID) { lock.withLock { ports[nic] = status } }

    func status(of network: NetworkID) -> NetworkRuntimeStatus {
        lock.withLock { networks[network] } ?? NotRunningStatus().status(of: network)
    }
    func status(of nic: NICID) -> PortRuntimeStatus {
        lock.withLock { ports[nic] } ?? NotRunningStatus().status(of: nic)
    }
}

final class RecordedChanges: DataplaneApplying, @unchecked Sendable {
    private let lock = NSLock()
    private var recorded: [DataplaneChange] = []
    func apply(_ change: DataplaneChange) { lock.withLock { recorded.append(change) } }
    var changes: [DataplaneChange] { lock.withLock { recorded } }
}

struct CannedHostNetworks: HostNetworksReading {
    let networks: [(network: IPv4Address, mask: IPv4Address)]
    init(_ networks: [(network: IPv4Address, mask: IPv4Address)]) { self.networks = networks }
    func ipv4Networks() -> [(network: IPv4Address, mask: IPv4Address)] { networks }
}

final class TestAdapters: AdapterDiscovering, @unchecked Sendable {
    private let lock = NSLock()
    private var adapters: [DiscoveredAdapter]
    init(_ adapters: [DiscoveredAdapter]) { self.adapters = adapters }
    func presentAdapters() -> [DiscoveredAdapter] { lock.withLock { adapters } }
    func unplug(_ name: String) { lock.withLock { adapters.removeAll { $0.name == name } } }
    func plug(_ adapter: DiscoveredAdapter) { lock.withLock { adapters.append(adapter) } }
}
