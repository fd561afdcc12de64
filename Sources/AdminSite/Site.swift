import Domain
import Foundation
import Logging
import WebServer

/// What the admin site needs from the rest of vnetd. Everything is a protocol from `Domain`,
/// so the site never reaches the database or the network directly.
public struct SiteDependencies: Sendable {
    public var eventLog: any EventLog
    public var store: any InventoryStore
    public var networks: NetworkService
    public var vms: VirtualMachineService
    public var adapters: AdapterService
    public var dhcp: DHCPService
    public var status: any RuntimeStatusReading
    public var changes: any ChangeTracking
    public var clock: any Clock
    public var info: ServerInfo
    public var access: AccessControl
    /// Port forwards of NAT networks; nil: the network page offers none.
    public var portForwards: PortForwardService?

    public init(
        eventLog: any EventLog, store: any InventoryStore, networks: NetworkService, vms: VirtualMachineService,
        adapters: AdapterService, dhcp: DHCPService, status: any RuntimeStatusReading, changes: any ChangeTracking, clock: any Clock, info: ServerInfo,
        access: AccessControl
    ) {
        self.access = access
        self.dhcp = dhcp
        self.changes = changes
        self.eventLog = eventLog
        self.store = store
        self.networks = networks
        self.vms = vms
        self.adapters = adapters
        self.status = status
        self.clock = clock
        self.info = info
    }
}

/// Facts about this vnetd instance, shown on the master status page.
public struct ServerInfo: Sendable {
    public var version: String
    public var hostName: String
    public var listenAddress: String
    public var dataDirectory: String
    public var startedAt: Date

    public init(version: String, hostName: String, listenAddress: String, dataDirectory: String, startedAt: Date) {
        self.version = version
        self.hostName = hostName
        self.listenAddress = listenAddress
        self.dataDirectory = dataDirectory
        self.startedAt = startedAt
    }
}

public enum AdminSite {
    /// The complete responder for the admin site: CSRF protection, then the session gate, then
    /// the router with every page and the static files (status pages also in JSON). With `metrics`, `/metrics` is answered
    /// before all of them (scrapers have no session) and every answer is counted.
    public static func makeResponder(
        dependencies: SiteDependencies,
        renderer: TemplateRenderer,
        publicDirectory: String,
        logger: Logger,
        metrics: MetricsSettings? = nil
    ) -> any HTTPResponder {
        let pages = SiteErrorPages(renderer: renderer, info: dependencies.info, logger: logger)
        let router = makeRouter(dependencies: dependencies, renderer: renderer, publicDirectory: publicDirectory, errorPages: pages, logger: logger)
        let gate = SessionGate(next: StatusJSON(next: router, dependencies: dependencies), access: dependencies.access, clock: dependencies.clock, errorPages: pages)
        let site = OversizeForms(next: CSRFProtection(wrapping: gate, errorPages: pages, secureCookie: dependencies.access.secureCookies))
        guard let metrics else { return site }
        return CountingResponder(next: MetricsEndpoint(next: site, settings: metrics, dependencies: dependencies), counter: metrics.requests)
    }

    /// Every route of the site as method and pattern (for tests that walk them all).
    public static func routeList(dependencies: SiteDependencies, renderer: TemplateRenderer, publicDirectory: String) -> [(method: String, pattern: String)] {
        let pages = SiteErrorPages(renderer: renderer, info: dependencies.info, logger: Logger(label: "vnetd.routes"))
        return makeRouter(dependencies: dependencies, renderer: renderer, publicDirectory: publicDirectory, errorPages: pages, logger: Logger(label: "vnetd.routes")).routeList
    }

    static func makeRouter(
        dependencies: SiteDependencies, renderer: TemplateRenderer, publicDirectory: String, errorPages: SiteErrorPages, logger: Logger
    ) -> Router {
        let site = SiteContext(dependencies: dependencies, renderer: renderer, layout: Layout(info: dependencies.info), cache: RenderCache(), choices: NetworkChoices(),
                               inventory: StoredInventory())
        var router = Router(errorPages: errorPages, logger: logger)
        Routes.add(to: &router, site: site)
        let signIn = SignInPage(
            site: site,
            styleSheet: (try? String(contentsOfFile: publicDirectory + "/css/vnetd.css", encoding: .utf8)) ?? "",
            logoDataURL: (try? Data(contentsOf: URL(fileURLWithPath: publicDirectory + "/img/vnetd.svg")))
                .map { "data:image/svg+xml;base64," + $0.base64EncodedString() } ?? "")
        router.get("/login") { try signIn.show($0) }
        router.post("/login") { try signIn.signIn($0) }
        router.get("/logout") { try signIn.confirmSignOut($0) }
        router.post("/logout") { try signIn.signOut($0) }
        let password = ChangePasswordPage(site: site)
        router.get("/account/password") { try password.show($0) }
        router.post("/account/password") { try password.save($0) }
        let files = StaticFiles(root: publicDirectory, prefix: "/static/", errorPages: errorPages)
        router.getPrefix("/static/") { files.respond(to: $0) }
        return router
    }
}

/// What every page needs: the services, the templates and the shared layout values.
struct SiteContext: Sendable {
    let dependencies: SiteDependencies
    let renderer: TemplateRenderer
    let layout: Layout
    let cache: RenderCache
    let choices: NetworkChoices
    let inventory: StoredInventory
}
