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
        do {
            let vm = try site.dependencies.vms.create(
                name: name, notes: notes,
                connectingTo: PathID.isWellFormed(network) ? NetworkID(rawValue: network) : nil)
            return .seeOther("/vms/\(vm.id.rawValue)")
        } catch let failure as ValidationFailure {
            return try render(request, name: name, notes: notes, network: network, errors: FormErrors(failure, knownFields: Self.fields), status: 422)
        }
    }

    private func render(_ request: Request, name: String, notes: String, network: String, errors: FormErrors, status: Int) throws -> Response {
        let networks = try site.dependencies.store.read { try $0.allNetworks() }
        var context = site.layout.context(title: "Create Virtual Machine", section: .createVM, request: request)
        context["form"] = ["name": name, "notes": notes]
        context["networkOptions"] = NetworkChoices.options(networks, selected: network)
        errors.apply(to: &context)
        return .html(try site.renderer.render("pages/vm-create", context), status: status)
    }
}

/// The "Connected to" choices: Not connected, then every network by name.
enum NetworkChoices {
    static func options(_ networks: [VirtualNetwork], selected: String) -> [[String: Any]] {
        [["value": "", "label": Labels.notConnected, "selected": selected.isEmpty]]
            + networks.map { ["value": $0.id.rawValue, "label": $0.name, "selected": $0.id.rawValue == selected] }
    }
}
