import Domain
import WebServer

/// GET /networks/new and POST /networks — Virtual Networks ▸ Create.
struct NetworkCreatePage: Sendable {
    let site: SiteContext

    func show(_ request: Request) throws -> Response {
        try render(request, form: NetworkForm(), errors: FormErrors(), status: 200)
    }

    func create(_ request: Request) throws -> Response {
        let form = NetworkForm(request: request)
        let mark = Notices.mark(site)
        do {
            let network = try site.dependencies.networks.create(
                form.draft, connecting: form.connect.map(NICID.init(rawValue:)))
            return Notices.redirect("/networks/\(network.id.rawValue)", since: mark, site)
        } catch let failure as ValidationFailure {
            return try render(request, form: form, errors: FormErrors(failure, knownFields: NetworkForm.fields), status: 422)
        }
    }

    private func render(_ request: Request, form: NetworkForm, errors: FormErrors, status: Int) throws -> Response {
        let dependencies = site.dependencies
        let unconnected = try dependencies.store.read { try $0.unconnectedNICs() }
        var context = site.layout.context(title: "Create Virtual Network", section: .createNetwork, request: request)
        context.merge(form.context(adapters: try dependencies.adapters.adapters(), current: nil, unconnected: unconnected, connected: nil)) { $1 }
        context["isCreate"] = true
        context["action"] = "/networks"
        context["submitLabel"] = "Create"
        errors.apply(to: &context)
        return .html(try site.renderer.render("pages/network-form", context), status: status)
    }
}
