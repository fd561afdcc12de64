import Domain
import WebServer

/// GET /networks — Virtual Networks ▸ View All.
struct NetworkListPage: Sendable {
    let site: SiteContext
    static let pageSize = 100

    func respond(to request: Request) throws -> Response {
        let dependencies = site.dependencies
        let (total, paging, rows, dhcpOn) = try dependencies.store.read { db in
            let total = try db.networkCount()
            let paging = Paging(request: request, total: total, pageSize: Self.pageSize)
            let on = Set(try db.allDHCPSettings().filter { $0.1.isEnabled }.map(\.0))
            return (total, paging, try db.networks(offset: paging.offset, limit: paging.pageSize), on)
        }
        let present = rows.contains { $0.network.kind.adapterName != nil } ? dependencies.adapters.presentAdapterNames() : []
        var context = site.layout.context(title: "Virtual Networks", section: .networks, request: request)
        context["networks"] = rows.map { row -> [String: Any] in
            return [
                "id": row.network.id.rawValue,
                "name": row.network.name,
                "kind": Labels.kind(row.network.kind),
                "isExternal": row.network.kind.adapterName != nil,
                "adapterMissing": row.network.kind.adapterName.map { !present.contains($0) } ?? false,
                "connected": row.connectedNICs,
                "dhcp": dhcpOn.contains(row.network.id) ? "On" : "Off",
            ]
        }
        context["total"] = total
        paging.apply(to: &context, path: "/networks")
        Notices.apply(request, site, to: &context)
        return .html(try site.renderer.render("pages/networks", context))
    }
}
