import Domain
import WebServer

/// GET / — what this host runs, at a glance, and what happened last.
struct MasterStatusPage: Sendable {
    let site: SiteContext
    var dependencies: SiteDependencies { site.dependencies }
    static let recentEventCount = 10

    /// Cached between changes: everything shown comes from the store, except the uptime and what
    /// needs attention (runtime state), which are in the key.
    func respond(to request: Request) throws -> Response {
        let uptime = Formatting.duration(dependencies.clock.now().timeIntervalSince(dependencies.info.startedAt))
        let attention = try site.inventory.attentionItems(dependencies)
        let digest = attention.map { $0.text + $0.link }.joined(separator: "\n")
        let key = "status|\(request.administrator ?? "")|\(Layout.refreshSeconds(request) ?? 0)|\(uptime)|\(digest)"
        return try site.cache.response(key: key, generation: dependencies.changes.generation) {
            try render(request, uptime: uptime, attention: attention)
        }
    }

    private func render(_ request: Request, uptime: String, attention: [Attention.Item]) throws -> Response {
        let summary = try dependencies.store.read { try $0.summary() }
        let recent = try dependencies.eventLog.page(offset: 0, limit: Self.recentEventCount)
        let info = dependencies.info
        var context = site.layout.context(title: "Master Status", section: .status, request: request)
        context["summary"] = [
            "networks": summary.networks,
            "virtualMachines": summary.virtualMachines,
            "nics": summary.nics,
            "connectedNICs": summary.connectedNICs,
        ]
        context["server"] = [
            "version": info.version,
            "hostName": info.hostName,
            "listenAddress": info.listenAddress,
            "dataDirectory": info.dataDirectory,
            "startedAt": Formatting.utc(info.startedAt),
            "uptime": uptime,
        ]
        context["attention"] = attention.map { ["text": $0.text, "link": $0.link] }
        context["needsAttention"] = !attention.isEmpty
        context["events"] = recent.events.map(Formatting.eventRow)
        context["hasMoreEvents"] = recent.totalCount > recent.events.count
        return .html(try site.renderer.render("pages/status", context))
    }
}
