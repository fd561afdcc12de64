import Domain
import Foundation
import WebServer

/// GET /events?page=N&type=T&level=L&object=K:ID — recorded events, newest first, a page at a time,
/// filtered by type (the kind's first part), severity and object. Paging keeps the filter.
struct EventViewerPage: Sendable {
    let site: SiteContext
    var dependencies: SiteDependencies { site.dependencies }
    static let pageSize = 50
    /// The types offered in the filter, as (category, label).
    static let types: [(String, String)] = [
        ("network", "Virtual networks"), ("vm", "Virtual machines"), ("nic", "Network adapters"), ("port", "Ports (VM connected, TAP)"),
        ("uplink", "Uplinks"), ("dhcp", "DHCP"), ("adapter", "Host adapters"), ("administrator", "Administrators"),
        ("server", "vnetd"), ("storage", "Storage"),
    ]

    /// The filter as asked for; anything not recognised is ignored.
    struct Filter {
        var type: String?
        var level: EventLevel?
        var subjectKind: EventSubject.Kind?
        var subjectID: String?

        init(_ request: Request) {
            type = request.query["type"].flatMap { wanted in EventViewerPage.types.first { $0.0 == wanted }?.0 }
            level = request.query["level"].flatMap(EventLevel.init(rawValue:))
            if let object = request.query["object"], let colon = object.firstIndex(of: ":"), object.utf8.count <= 100,
               let kind = EventSubject.Kind(rawValue: String(object[..<colon])) {
                subjectKind = kind
                subjectID = String(object[object.index(after: colon)...])
            }
        }

        var query: EventQuery { EventQuery(category: type, level: level, subjectKind: subjectKind, subjectID: subjectID) }

        /// The query string for links that keep the filter (without `page`).
        var parameters: String {
            var parts: [String] = []
            if let type { parts.append("type=\(type)") }
            if let level { parts.append("level=\(level.rawValue)") }
            if let subjectKind, let subjectID {
                parts.append("object=\(subjectKind.rawValue):\(subjectID.addingPercentEncoding(withAllowedCharacters: Formatting.idCharacters) ?? "")")
            }
            return parts.joined(separator: "&")
        }
    }

    /// Cached between changes: the page shows only stored events.
    func respond(to request: Request) throws -> Response {
        let requested = Paging.requestedPage(request)
        let filter = Filter(request)
        let key = "events|\(request.administrator ?? "")|\(requested)|\(Layout.refreshSeconds(request) ?? 0)|\(filter.parameters)"
        return try site.cache.response(key: key, generation: dependencies.changes.generation) {
            try render(request, requested: requested, filter: filter)
        }
    }

    private func render(_ request: Request, requested: Int, filter: Filter) throws -> Response {
        var page = requested
        let query = filter.query
        var result = try dependencies.eventLog.page(offset: Paging.offset(of: page, pageSize: Self.pageSize), limit: Self.pageSize, matching: query)
        let pageCount = max(1, result.totalCount / Self.pageSize + (result.totalCount % Self.pageSize == 0 ? 0 : 1))
        if page > pageCount {
            page = pageCount
            result = try dependencies.eventLog.page(offset: Paging.offset(of: page, pageSize: Self.pageSize), limit: Self.pageSize, matching: query)
        }
        var context = site.layout.context(title: "Event Viewer", section: .events, request: request)
        context["events"] = result.events.map(Formatting.eventRow)
        context["totalCount"] = result.totalCount
        context["page"] = page
        context["pageCount"] = pageCount
        let keep = filter.parameters.isEmpty ? "" : "&" + filter.parameters
        if page > 1 { context["previousPage"] = "/events?page=\(page - 1)\(keep)" }
        if page < pageCount { context["nextPage"] = "/events?page=\(page + 1)\(keep)" }
        context["typeOptions"] = Self.types.map { ["value": $0.0, "label": $0.1, "selected": $0.0 == filter.type] }
        context["levelOptions"] = [EventLevel.warning, .error, .information].map { ["value": $0.rawValue, "label": $0.rawValue.capitalized, "selected": $0 == filter.level] }
        context["isFiltered"] = !filter.parameters.isEmpty
        if let kind = filter.subjectKind, let id = filter.subjectID {
            let name = result.events.first?.subject.name ?? id
            context["object"] = ["kind": kind.rawValue, "id": id, "name": name, "value": "\(kind.rawValue):\(id)"]
        }
        return .html(try site.renderer.render("pages/events", context))
    }
}
