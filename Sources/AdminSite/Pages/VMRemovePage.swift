import Domain
import WebServer

/// GET/POST /vms/{id}/remove — confirm, then remove a VM and its network adapters.
struct VMRemovePage: Sendable {
    let site: SiteContext

    func confirm(_ request: Request) throws -> Response {
        let id = try PathID.vm(request)
        let (vm, nics, names) = try site.dependencies.store.read { db in
            let nics = try db.nics(of: id)
            let names = try db.networkNames(for: nics)
            return (try db.vm(id), nics, names)
        }
        let found = try lookup(vm, "There is no such virtual machine.")
        var context = site.layout.context(title: "Remove Virtual Machine: \(found.name)", section: .vms, request: request)
        context["vm"] = ["id": found.id.rawValue, "name": found.name]
        context["nics"] = nics.map { nic -> [String: Any] in
            ["label": nic.label, "mac": Labels.mac(nic.mac), "network": nic.networkID.flatMap { names[$0] } ?? Labels.notConnected]
        }
        context["nicCount"] = nics.count
        return .html(try site.renderer.render("pages/vm-remove", context))
    }

    func remove(_ request: Request) throws -> Response {
        let id = try PathID.vm(request)
        let mark = Notices.mark(site)
        do {
            try site.dependencies.vms.remove(id)
        } catch is NotFound {
            throw HTTPError.notFound("There is no such virtual machine. It may have been removed already.")
        }
        return Notices.redirect("/vms", since: mark, site)
    }
}
