import Domain
import WebServer

/// GET/POST /networks/{id}/settings — Network Settings: name, host adapter, NICs, notes.
struct NetworkSettingsPage: Sendable {
    let site: SiteContext

    func show(_ request: Request) throws -> Response {
        let id = try PathID.network(request)
        let network = try lookup(try site.dependencies.store.read { try $0.network(id) }, "There is no such virtual network.")
        return try render(request, network: network, form: NetworkForm(network), version: network.version, errors: FormErrors(), status: 200)
    }

    /// The page again after its Storm control form was refused (`StormControlAction`).
    func show(_ request: Request, storm: StormControlForm?, errors: FormErrors, status: Int) throws -> Response {
        let id = try PathID.network(request)
        let network = try lookup(try site.dependencies.store.read { try $0.network(id) }, "There is no such virtual network.")
        return try render(request, network: network, form: NetworkForm(network), version: network.version, errors: errors, status: status, storm: storm)
    }

    func save(_ request: Request) throws -> Response {
        let id = try PathID.network(request)
        let form = NetworkForm(request: request)
        let mark = Notices.mark(site)
        do {
            try site.dependencies.networks.update(
                id, version: request.formVersion, form.draft,
                connecting: form.connect.map(NICID.init(rawValue:)),
                disconnecting: form.disconnect.map(NICID.init(rawValue:)))
            return Notices.redirect("/networks/\(id.rawValue)", since: mark, site)
        } catch let failure as ValidationFailure {
            let current = try lookup(try site.dependencies.store.read { try $0.network(id) }, "There is no such virtual network.")
            let errors = FormErrors(failure, knownFields: NetworkForm.fields)
            if failure.has(.staleEdit) {
                // Show what is stored now, so the administrator decides again from the truth.
                let conflict = Conflict.context(site, subject: .network, id: current.id.rawValue, rows: [
                    Conflict.Row(label: "Virtual network name", input: form.name, stored: current.name),
                    Conflict.Row(label: "Network adapter on physical computer", input: form.adapter.isEmpty ? Labels.guestOnly : form.adapter, stored: Labels.kind(current.kind)),
                    Conflict.Row(label: "Virtual network notes", input: form.notes, stored: current.notes),
                ] + (form.connect.isEmpty && form.disconnect.isEmpty ? [] : [
                    Conflict.Row(label: "Adapters to connect or disconnect", input: "\(form.connect.count) to connect, \(form.disconnect.count) to disconnect", stored: "—"),
                ]))
                return try render(request, network: current, form: NetworkForm(current), version: current.version, errors: errors, status: 409, conflict: conflict)
            }
            return try render(request, network: current, form: form, version: request.formVersion, errors: errors, status: 422)
        } catch is NotFound {
            throw HTTPError.notFound("There is no such virtual network.")
        }
    }

    private func render(_ request: Request, network: VirtualNetwork, form: NetworkForm, version: Int, errors: FormErrors, status: Int,
                        conflict: [String: Any]? = nil, storm: StormControlForm? = nil) throws -> Response {
        let dependencies = site.dependencies
        let (unconnected, connected) = try dependencies.store.read { db in
            (try db.unconnectedNICs(), try db.nics(on: network.id))
        }
        var context = site.layout.context(title: "Network Settings: \(network.name)", section: .networks, request: request)
        context.merge(form.context(
            adapters: try dependencies.adapters.adapters(), current: network.kind.adapterName,
            unconnected: unconnected, connected: connected)) { $1 }
        context["network"] = ["id": network.id.rawValue, "name": network.name]
        context["version"] = version
        context["action"] = "/networks/\(network.id.rawValue)/settings"
        context["submitLabel"] = "Save"
        let storm = try storm ?? StormControlForm(try dependencies.store.read { try $0.stormControl(of: network.id) })
        context["stormControl"] = storm.context(network: network.id)
        if let conflict { context["conflict"] = conflict }
        errors.apply(to: &context)
        return .html(try site.renderer.render("pages/network-form", context), status: status)
    }
}
