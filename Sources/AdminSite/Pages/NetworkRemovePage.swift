import Domain
import WebServer

/// GET/POST /networks/{id}/remove — confirm, then remove (its NICs become "Not connected").
struct NetworkRemovePage: Sendable {
    let site: SiteContext

    func confirm(_ request: Request) throws -> Response {
        let id = try PathID.network(request)
        let (network, nics) = try site.dependencies.store.read { db in (try db.network(id), try db.nics(on: id)) }
        let found = try lookup(network, "There is no such virtual network.")
        var context = site.layout.context(title: "Remove Virtual Network: \(found.name)", section: .networks, request: request)
        context["network"] = ["id": found.id.rawValue, "name": found.name, "kind": Labels.kind(found.kind)]
        context["nics"] = nics.map { NetworkForm.nicRow($0, checked: false) }
        context["hasNICs"] = !nics.isEmpty
        context["nicCount"] = nics.count
        return .html(try site.renderer.render("pages/network-remove", context))
    }

    func remove(_ request: Request) throws -> Response {
        let id = try PathID.network(request)
        let mark = Notices.mark(site)
        do {
            try site.dependencies.networks.remove(id)
        } catch is NotFound {
            throw HTTPError.notFound("There is no such virtual network. It may have been removed already.")
        }
        return Notices.redirect("/networks", since: mark, site)
    }
}
