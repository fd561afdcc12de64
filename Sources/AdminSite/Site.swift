import Domain
import Foundation
import Logging
import WebServer

/// What the admin site needs from the rest of vnetd. Everything is a protocol from `Domain`,
/// so the site never reaches the database or the network directly.
public struct SiteDependencies: Sendable {
    public var eventLog: any EventLog
    public var inventory: any InventoryReading
    public var clock: any Clock
    public var info: ServerInfo

    public init(eventLog: any EventLog, inventory: any InventoryReading, clock: any Clock, info: ServerInfo) {
        self.eventLog = eventLog
        self.inventory = inventory
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
        let layout = Layout(info: dependencies.info)
        var router = Router(errorPages: pages, logger: logger)
        Routes.add(to: &router, dependencies: dependencies, renderer: renderer, layout: layout)
        let files = StaticFiles(root: publicDirectory, prefix: "/static/", errorPages: pages)
        router.getPrefix("/static/") { files.respond(to: $0) }
        return CSRFProtection(wrapping: router, errorPages: pages)
    }
}
