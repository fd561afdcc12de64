import Domain
import WebServer

/// GET/POST /vms/{id}/nics — Network Adapters of a VM: connect, move, MAC, backend, add, remove.
///
/// One form saves every adapter at once (all or nothing); its add button saves them and then adds
/// one. Each adapter's Remove button is part of the same form: it asks for confirmation (like
/// every destructive action) on a page that carries what was typed, so "Back" returns to the
/// form as it was and "Remove" saves the other adapters' changes first, then removes. A bare
/// `?remove=N` (no form) asks too.
struct VMNICsPage: Sendable {
    let site: SiteContext

    /// What the form holds for one adapter, as typed.
    struct Row {
        var nic: VirtualNIC
        var network: String
        var isStatic: Bool
        var macText: String
        var backend: NICBackend
        var allowsSpoofing: Bool

        init(_ nic: VirtualNIC) {
            self.nic = nic
            network = nic.networkID?.rawValue ?? ""
            isStatic = nic.assignment == .static
            macText = Labels.mac(nic.mac)
            backend = nic.backend
            allowsSpoofing = nic.allowsMACSpoofing
        }

        init(_ nic: VirtualNIC, request: Request) {
            let prefix = "nic-\(nic.slot)"
            self.nic = nic
            network = request.field("\(prefix)-network")
            isStatic = request.field("\(prefix)-mac-mode") == "static"
            macText = request.field("\(prefix)-mac")
            backend = NICBackend(rawValue: request.field("\(prefix)-backend")) ?? nic.backend
            allowsSpoofing = request.field("\(prefix)-mac-spoofing") == "1"
        }

        var setting: NICSetting {
            NICSetting(
                nicID: nic.id,
                networkID: PathID.isWellFormed(network) ? NetworkID(rawValue: network) : nil,
                assignment: isStatic ? .static : .dynamic, staticMAC: macText, backend: backend, allowsMACSpoofing: allowsSpoofing)
        }
    }

    /// The form as stored is reused until the store changes, each browser's token spliced in.
    func show(_ request: Request) throws -> Response {
        if request.query["remove"] == nil, request.headers[OversizeForms.refusalHeader] == nil {
            let generation = site.dependencies.changes.generation
            let key = "nics|\(try PathID.vm(request).rawValue)|\(request.administrator ?? "")|\(Layout.refreshSeconds(request) ?? 0)|\(request.query["done"] ?? "")"
            return try site.cache.form(key: key, generation: generation, request: request) { shown in
                let (vm, nics) = try load(shown)
                return try render(shown, vm: vm, rows: nics.map(Row.init), version: vm.version, errors: FormErrors(), status: 200)
            }
        }
        let (vm, nics) = try load(request)
        if let slot = request.query["remove"].flatMap(Int.init), let nic = nics.first(where: { $0.slot == slot }) {
            return try confirmRemoval(request, vm: vm, nic: nic, version: vm.version, carried: [])
        }
        return try render(request, vm: vm, rows: nics.map(Row.init), version: vm.version, errors: FormErrors(), status: 200)
    }

    /// One form: "Save" stores the adapters; "Add network adapter" stores them first, then adds one,
    /// so nothing typed on the page is lost; a refused save adds nothing. The notice on the next page
    /// lists what was done, from the events the service recorded.
    func save(_ request: Request) throws -> Response {
        let id = try PathID.vm(request)
        let service = site.dependencies.vms
        let action = request.field("action")
        let mark = Notices.mark(site)
        do {
            switch action {
            case "add":
                var version = request.formVersion
                if submitsRows(request) {
                    try saveRows(request, id: id)
                    version = try load(request).0.version
                }
                let added = try service.addNIC(to: id, version: version)
                PortReadiness.wait(for: [added], site.dependencies.status)
                return Notices.redirect("/vms/\(id.rawValue)/nics", since: mark, site)
            case let remove where remove.hasPrefix("remove-"):
                let (vm, nics) = try load(request)
                guard let nic = nics.first(where: { "remove-\($0.slot)" == remove }) else { throw HTTPError.badRequest("No network adapter was named.") }
                return try confirmRemoval(request, vm: vm, nic: nic, version: request.formVersion, carried: carriedFields(request))
            case "edit":
                // "Back" from the confirmation: the form as it was typed, nothing saved.
                let (vm, nics) = try load(request)
                let rows = submitsRows(request) ? nics.map { Row($0, request: request) } : nics.map(Row.init)
                return try render(request, vm: vm, rows: rows, version: submitsRows(request) ? request.formVersion : vm.version, errors: FormErrors(), status: 200)
            case "remove":
                let nicID = request.field("nic")
                guard PathID.isWellFormed(nicID) else { throw HTTPError.badRequest("No network adapter was named.") }
                var version = request.formVersion
                if submitsRows(request) {
                    try saveRows(request, id: id, keepingStored: NICID(rawValue: nicID))
                    version = try load(request).0.version
                }
                try service.removeNIC(NICID(rawValue: nicID), of: id, version: version)
                return Notices.redirect("/vms/\(id.rawValue)/nics", since: mark, site)
            default:
                try saveRows(request, id: id)
                PortReadiness.wait(for: try load(request).1, site.dependencies.status)
                return Notices.redirect("/vms/\(id.rawValue)", since: mark, site)
            }
        } catch let failure as ValidationFailure {
            let (vm, nics) = try load(request)
            let fields = Set(nics.flatMap { ["nic-\($0.slot)-network", "nic-\($0.slot)-mac"] })
            let errors = FormErrors(failure, knownFields: fields)
            if failure.has(.staleEdit) {
                return try render(request, vm: vm, rows: nics.map(Row.init), version: vm.version, errors: errors, status: 409,
                                  conflict: try conflict(request, vm: vm, nics: nics))
            }
            if (action == "remove" || action == "add") && !submitsRows(request) {
                return try render(request, vm: vm, rows: nics.map(Row.init), version: vm.version, errors: errors, status: 422)
            }
            return try render(request, vm: vm, rows: nics.map { Row($0, request: request) }, version: request.formVersion, errors: errors, status: 422)
        } catch is NotFound {
            throw HTTPError.notFound("There is no such virtual machine or network adapter.")
        }
    }

    /// Whether the post carries the adapters' fields (the page's form does; a bare "add" does not).
    private func submitsRows(_ request: Request) -> Bool {
        request.form.fields.keys.contains { $0.hasPrefix("nic-") && $0.hasSuffix("-id") }
    }

    /// `keepingStored`: the adapter about to be removed is saved as stored, whatever was typed for it.
    private func saveRows(_ request: Request, id: VMID, keepingStored removed: NICID? = nil) throws {
        let (_, nics) = try load(request)
        // A form that lists other adapters than the stored ones is stale by definition.
        guard nics.allSatisfy({ request.field("nic-\($0.slot)-id") == $0.id.rawValue }),
              request.form.fields.keys.filter({ $0.hasPrefix("nic-") && $0.hasSuffix("-id") }).count == nics.count else {
            throw VirtualMachineServiceStale.failure
        }
        try site.dependencies.vms.configureNICs(
            of: id, version: request.formVersion, nics.map { $0.id == removed ? Row($0).setting : Row($0, request: request).setting })
    }

    /// The submitted adapters as text beside the stored ones, for a stale save.
    private func conflict(_ request: Request, vm: VirtualMachine, nics: [VirtualNIC]) throws -> [String: Any] {
        let names = try site.dependencies.store.read { try $0.allNetworks() }.reduce(into: [String: String]()) { $0[$1.id.rawValue] = $1.name }
        func describe(network: String, isStatic: Bool, mac: String, backend: NICBackend) -> String {
            let connection = network.isEmpty ? Labels.notConnected : "Connected to “\(names[network] ?? "a removed network")”"
            return "\(connection), \(isStatic ? "static \(mac)" : "dynamic MAC"), \(Labels.backend(backend))"
        }
        var rows: [Conflict.Row] = []
        for slot in 1...MACRules.maximumNICsPerVM {
            let stored = nics.first { $0.slot == slot }
            let submitted = !request.field("nic-\(slot)-id").isEmpty
            guard stored != nil || submitted else { continue }
            let input = submitted ? describe(
                network: request.field("nic-\(slot)-network"), isStatic: request.field("nic-\(slot)-mac-mode") == "static",
                mac: request.field("nic-\(slot)-mac"), backend: NICBackend(rawValue: request.field("nic-\(slot)-backend")) ?? .socket) : "(not on your form)"
            let now = stored.map { describe(network: $0.networkID?.rawValue ?? "", isStatic: $0.assignment == .static, mac: Labels.mac($0.mac), backend: $0.backend) }
            rows.append(Conflict.Row(label: "Virtual network adapter \(slot)", input: input, stored: now ?? "(removed)"))
        }
        return Conflict.context(site, subject: .virtualMachine, id: vm.id.rawValue, rows: rows)
    }

    private func load(_ request: Request) throws -> (VirtualMachine, [VirtualNIC]) {
        let id = try PathID.vm(request)
        let (vm, nics) = try site.dependencies.store.read { db in (try db.vm(id), try db.nics(of: id)) }
        return (try lookup(vm, "There is no such virtual machine."), nics)
    }

    private func render(_ request: Request, vm: VirtualMachine, rows: [Row], version: Int, errors: FormErrors, status: Int,
                        conflict: [String: Any]? = nil) throws -> Response {
        var context = site.layout.context(title: "Network Adapters: \(vm.name)", section: .vms, request: request)
        context["vm"] = ["id": vm.id.rawValue, "name": vm.name]
        context["version"] = version
        context["nics"] = try rows.map { row -> [String: Any] in
            let slot = row.nic.slot
            let networkErrors = errors.messages(for: "nic-\(slot)-network")
            let macErrors = errors.messages(for: "nic-\(slot)-mac")
            return [
                "slot": slot,
                "id": row.nic.id.rawValue,
                "label": row.nic.label,
                "networkOptionsHTML": try site.choices.options(site.dependencies, selected: row.network),
                "isStatic": row.isStatic,
                "isDynamic": !row.isStatic,
                "macText": row.macText,
                "currentMAC": Labels.mac(row.nic.mac),
                "allowsSpoofing": row.allowsSpoofing,
                "backendOptions": NICBackend.allCases.map { ["value": $0.rawValue, "label": Labels.backend($0), "selected": $0 == row.backend] },
                "networkErrors": networkErrors,
                "networkInvalid": !networkErrors.isEmpty,
                "macErrors": macErrors,
                "macInvalid": !macErrors.isEmpty,
                "networkFocus": errors.firstField == "nic-\(slot)-network",
                "macFocus": errors.firstField == "nic-\(slot)-mac",
            ]
        }
        context["hasNICs"] = !rows.isEmpty
        context["canAdd"] = rows.count < MACRules.maximumNICsPerVM
        context["maximumNICs"] = MACRules.maximumNICsPerVM
        if let conflict { context["conflict"] = conflict }
        Notices.apply(request, site, to: &context)
        errors.apply(to: &context)
        return try site.renderer.page("pages/vm-nics", context, status: status)
    }

    /// The adapters' fields of a posted form, to be posted again from the confirmation page
    /// (only the names the form has, each value as typed).
    private func carriedFields(_ request: Request) -> [[String: Any]] {
        (1...MACRules.maximumNICsPerVM).flatMap { slot in
            ["id", "network", "mac-mode", "mac", "backend", "mac-spoofing"].compactMap { field -> [String: Any]? in
                let name = "nic-\(slot)-\(field)"
                return request.form[name].map { ["name": name, "value": $0] }
            }
        }
    }

    private func confirmRemoval(_ request: Request, vm: VirtualMachine, nic: VirtualNIC, version: Int, carried: [[String: Any]]) throws -> Response {
        let networkName = try nic.networkID.flatMap { id in try site.dependencies.store.read { try $0.network(id) }?.name }
        var context = site.layout.context(title: "Remove \(nic.label)", section: .vms, request: request)
        context["vm"] = ["id": vm.id.rawValue, "name": vm.name]
        context["version"] = version
        context["carried"] = carried
        context["carriesEdits"] = !carried.isEmpty
        context["nic"] = [
            "id": nic.id.rawValue, "label": nic.label, "mac": Labels.mac(nic.mac),
            "network": networkName ?? Labels.notConnected,
        ]
        return .html(try site.renderer.render("pages/vm-nic-remove", context))
    }
}

enum VirtualMachineServiceStale {
    static let failure = ValidationFailure(
        .staleEdit, "The network adapters of this virtual machine changed since you opened the form. The form now shows the current settings; make your changes again.")
}
