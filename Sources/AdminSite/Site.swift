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

    public init(
        eventLog: any EventLog, store: any InventoryStore, networks: NetworkService, vms: VirtualMachineService,
        adapters: AdapterService, dhcp: DHCPService, status: any RuntimeStatusReading, changes: any ChangeTracking, clock: any Clock, info: ServerInfo
    ) {
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
    /// The complete responder for the admin site: CSRF protection around the router with every page.
    public static func makeResponder(
        dependencies: SiteDependencies,
        renderer: TemplateRenderer,
        publicDirectory: String,
        logger: Logger
    ) -> any HTTPResponder {
        let pages = SiteErrorPages(renderer: renderer, info: dependencies.info, logger: logger)
        let site = SiteContext(dependencies: dependencies, renderer: renderer, layout: Layout(info: dependencies.info), cache: RenderCache(), choices: NetworkChoices())
        var router = Router(errorPages: pages, logger: logger)
        Routes.add(to: &router, site: site)
        let files = StaticFiles(root: publicDirectory, prefix: "/static/", errorPages: pages)
        router.getPrefix("/static/") { files.respond(to: $0) }
        return CSRFProtection(wrapping: router, errorPages: pages)
    }
}

/// What every page needs: the services, the templates and the shared layout values.
struct SiteContext: Sendable {
    let dependencies: SiteDependencies
    let renderer: TemplateRenderer
    let layout: Layout
    let cache: RenderCache
    let choices: NetworkChoices
}
