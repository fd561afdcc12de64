import Domain
import WebServer

/// GET/POST /vms/{id}/settings — a VM's name and notes.
struct VMSettingsPage: Sendable {
    let site: SiteContext
    static let fields: Set<String> = ["name", "notes"]

    func show(_ request: Request) throws -> Response {
        let vm = try current(request)
        return try render(request, vm: vm, name: vm.name, notes: vm.notes, version: vm.version, errors: FormErrors(), status: 200)
    }

    func save(_ request: Request) throws -> Response {
        let id = try PathID.vm(request)
        let name = request.field("name"), notes = request.field("notes")
        let mark = Notices.mark(site)
        do {
            try site.dependencies.vms.update(id, version: request.formVersion, name: name, notes: notes)
            return Notices.redirect("/vms/\(id.rawValue)", since: mark, site)
        } catch let failure as ValidationFailure {
            let vm = try current(request)
            let errors = FormErrors(failure, knownFields: Self.fields)
            if failure.has(.staleEdit) {
                let conflict = Conflict.context(site, subject: .virtualMachine, id: vm.id.rawValue, rows: [
                    Conflict.Row(label: "Virtual machine name", input: name, stored: vm.name),
                    Conflict.Row(label: "Notes", input: notes, stored: vm.notes),
                ])
                return try render(request, vm: vm, name: vm.name, notes: vm.notes, version: vm.version, errors: errors, status: 409, conflict: conflict)
            }
            return try render(request, vm: vm, name: name, notes: notes, version: request.formVersion, errors: errors, status: 422)
        } catch is NotFound {
            throw HTTPError.notFound("There is no such virtual machine.")
        }
    }

    private func current(_ request: Request) throws -> VirtualMachine {
        let id = try PathID.vm(request)
        return try lookup(try site.dependencies.store.read { try $0.vm(id) }, "There is no such virtual machine.")
    }

    private func render(_ request: Request, vm: VirtualMachine, name: String, notes: String, version: Int, errors: FormErrors, status: Int,
                        conflict: [String: Any]? = nil) throws -> Response {
        var context = site.layout.context(title: "Settings: \(vm.name)", section: .vms, request: request)
        context["vm"] = ["id": vm.id.rawValue, "name": vm.name]
        context["form"] = ["name": name, "notes": notes]
        context["version"] = version
        context["notesLimit"] = NotesRules.maximumLength
        if let conflict { context["conflict"] = conflict }
        errors.apply(to: &context)
        return .html(try site.renderer.render("pages/vm-settings", context), status: status)
    }
}
