import Domain
import WebServer

/// GET /vms/new and POST /vms — Virtual Machines ▸ Create.
struct VMCreatePage: Sendable {
    let site: SiteContext
    static let fields: Set<String> = ["name", "notes", "network"]

    func show(_ request: Request) throws -> Response {
        try render(request, name: "", notes: "", network: "", errors: FormErrors(), status: 200)
    }

    func create(_ request: Request) throws -> Response {
        let name = request.field("name"), notes = request.field("notes"), network = request.field("network")
        let mark = Notices.mark(site)
        do {
            let vm = try site.dependencies.vms.create(
                name: name, notes: notes,
                connectingTo: PathID.isWellFormed(network) ? NetworkID(rawValue: network) : nil)
            PortReadiness.wait(for: (try? site.dependencies.store.read { try $0.nics(of: vm.id) }) ?? [], site.dependencies.status)
            return Notices.redirect("/vms/\(vm.id.rawValue)", since: mark, site)
        } catch let failure as ValidationFailure {
            return try render(request, name: name, notes: notes, network: network, errors: FormErrors(failure, knownFields: Self.fields), status: 422)
        }
    }

    private func render(_ request: Request, name: String, notes: String, network: String, errors: FormErrors, status: Int) throws -> Response {
        var context = site.layout.context(title: "Create Virtual Machine", section: .createVM, request: request)
        context["form"] = ["name": name, "notes": notes]
        context["notesLimit"] = NotesRules.maximumLength
        context["networkOptionsHTML"] = try site.choices.options(site.dependencies, selected: network)
        errors.apply(to: &context)
        return .html(try site.renderer.render("pages/vm-create", context), status: status)
    }
}
