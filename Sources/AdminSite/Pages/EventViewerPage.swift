import Domain
import WebServer

/// GET /events?page=N — every recorded event, newest first, a page at a time.
struct EventViewerPage: Sendable {
    let site: SiteContext
    var dependencies: SiteDependencies { site.dependencies }
    static let pageSize = 50

    /// Cached between changes: the page shows only stored events.
    func respond(to request: Request) throws -> Response {
        let requested = Paging.requestedPage(request)
        let key = "events|\(request.administrator ?? "")|\(requested)|\(Layout.refreshSeconds(request) ?? 0)"
        return try site.cache.response(key: key, generation: dependencies.changes.generation) {
            try render(request, requested: requested)
        }
    }

    private func render(_ request: Request, requested: Int) throws -> Response {
        var page = requested
        var result = try dependencies.eventLog.page(offset: Paging.offset(of: page, pageSize: Self.pageSize), limit: Self.pageSize)
        let pageCount = max(1, result.totalCount / Self.pageSize + (result.totalCount % Self.pageSize == 0 ? 0 : 1))
        if page > pageCount {
            page = pageCount
            result = try dependencies.eventLog.page(offset: Paging.offset(of: page, pageSize: Self.pageSize), limit: Self.pageSize)
        }
        var context = site.layout.context(title: "Event Viewer", section: .events, request: request)
        context["events"] = result.events.map(Formatting.eventRow)
        context["totalCount"] = result.totalCount
        context["page"] = page
        context["pageCount"] = pageCount
        if page > 1 { context["previousPage"] = page - 1 }
        if page < pageCount { context["nextPage"] = page + 1 }
        return .html(try site.renderer.render("pages/events", context))
    }
}
