import Domain
import WebServer

/// GET /vms — Virtual Machines ▸ View All.
struct VMListPage: Sendable {
    let site: SiteContext
    static let pageSize = 100

    func respond(to request: Request) throws -> Response {
        let (total, paging, rows) = try site.dependencies.store.read { db in
            let total = try db.vmCount()
            let paging = Paging(request: request, total: total, pageSize: Self.pageSize)
            return (total, paging, try db.vms(offset: paging.offset, limit: paging.pageSize))
        }
        var context = site.layout.context(title: "Virtual Machines", section: .vms, request: request)
        context["vms"] = rows.map { row -> [String: Any] in
            ["id": row.vm.id.rawValue, "name": row.vm.name, "nics": row.nics, "connected": row.connectedNICs, "notes": row.vm.notes]
        }
        context["total"] = total
        paging.apply(to: &context, path: "/vms")
        Notices.apply(request, site, to: &context)
        return .html(try site.renderer.render("pages/vms", context))
    }
}
