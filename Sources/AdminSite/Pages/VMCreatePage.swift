import Domain
import Synchronization
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
        context["networkOptionsHTML"] = try site.choices.optionsHTML(site.dependencies, selected: network)
        errors.apply(to: &context)
        return .html(try site.renderer.render("pages/vm-create", context), status: status)
    }
}

/// The "Connected to" choices: Not connected, then every network by name.
///
/// With a thousand networks a page of four adapters would build four thousand template
/// dictionaries, so the `<option>` list is rendered here, once per store generation, with every
/// name escaped by `HTMLEscaping`; each select then only marks its own choice. Templates insert
/// it with `{{{...}}}`, which is safe only because of that escaping.
final class NetworkChoices: Sendable {
    private let cached = Mutex<(generation: UInt64, html: String)?>(nil)

    func optionsHTML(_ dependencies: SiteDependencies, selected: String) throws -> String {
        let generation = dependencies.changes.generation
        let base: String
        if let hit = cached.withLock({ $0 }), hit.generation == generation {
            base = hit.html
        } else {
            let networks = try dependencies.store.read { try $0.allNetworks() }
            var html = "<option value=\"\">\(HTMLEscaping.escape(Labels.notConnected))</option>"
            html.reserveCapacity(networks.count * 80)
            for network in networks {
                html += "<option value=\"\(HTMLEscaping.escape(network.id.rawValue))\">\(HTMLEscaping.escape(network.name))</option>"
            }
            cached.withLock { $0 = (generation, html) }
            base = html
        }
        return Self.marking(base, selected: selected)
    }

    static func marking(_ html: String, selected: String) -> String {
        let needle = "<option value=\"\(HTMLEscaping.escape(selected))\">"
        guard let range = html.range(of: needle) else { return html }
        return html.replacingCharacters(in: range, with: "<option value=\"\(HTMLEscaping.escape(selected))\" selected>")
    }
}
