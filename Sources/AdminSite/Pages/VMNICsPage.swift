import Domain
import WebServer

/// GET/POST /vms/{id}/nics — Network Adapters of a VM: connect, move, MAC, backend, add, remove.
///
/// One form saves every adapter at once (all or nothing). Adding is its own button; removing
/// goes through a confirmation (`?remove=N`), like every destructive action.
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

    func show(_ request: Request) throws -> Response {
        let (vm, nics) = try load(request)
        if let slot = request.query["remove"].flatMap(Int.init), let nic = nics.first(where: { $0.slot == slot }) {
            return try confirmRemoval(request, vm: vm, nic: nic)
        }
        let notice = request.query["saved"] == "1" ? "Network adapters saved." : nil
        return try render(request, vm: vm, rows: nics.map(Row.init), version: vm.version, errors: FormErrors(), notice: notice, status: 200)
    }

    func save(_ request: Request) throws -> Response {
        let id = try PathID.vm(request)
        let service = site.dependencies.vms
        do {
            switch request.field("action") {
            case "add":
                try service.addNIC(to: id, version: request.formVersion)
                return .seeOther("/vms/\(id.rawValue)/nics?saved=1")
            case "remove":
                let nicID = request.field("nic")
                guard PathID.isWellFormed(nicID) else { throw HTTPError.badRequest("No network adapter was named.") }
                try service.removeNIC(NICID(rawValue: nicID), of: id, version: request.formVersion)
                return .seeOther("/vms/\(id.rawValue)/nics?saved=1")
            default:
                let (_, nics) = try load(request)
                // A form that lists other adapters than the stored ones is stale by definition.
                guard nics.allSatisfy({ request.field("nic-\($0.slot)-id") == $0.id.rawValue }) else {
                    throw VirtualMachineServiceStale.failure
                }
                try service.configureNICs(of: id, version: request.formVersion, nics.map { Row($0, request: request).setting })
                return .seeOther("/vms/\(id.rawValue)")
            }
        } catch let failure as ValidationFailure {
            let (vm, nics) = try load(request)
            let fields = Set(nics.flatMap { ["nic-\($0.slot)-network", "nic-\($0.slot)-mac"] })
            let errors = FormErrors(failure, knownFields: fields)
            if failure.has(.staleEdit) || request.field("action") != "save" && !request.field("action").isEmpty {
                return try render(request, vm: vm, rows: nics.map(Row.init), version: vm.version, errors: errors, notice: nil, status: failure.has(.staleEdit) ? 409 : 422)
            }
            return try render(request, vm: vm, rows: nics.map { Row($0, request: request) }, version: request.formVersion, errors: errors, notice: nil, status: 422)
        } catch is NotFound {
            throw HTTPError.notFound("There is no such virtual machine or network adapter.")
        }
    }

    private func load(_ request: Request) throws -> (VirtualMachine, [VirtualNIC]) {
        let id = try PathID.vm(request)
        let (vm, nics) = try site.dependencies.store.read { db in (try db.vm(id), try db.nics(of: id)) }
        return (try lookup(vm, "There is no such virtual machine."), nics)
    }

    private func render(_ request: Request, vm: VirtualMachine, rows: [Row], version: Int, errors: FormErrors, notice: String?, status: Int) throws -> Response {
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
                "networkOptionsHTML": try site.choices.optionsHTML(site.dependencies, selected: row.network),
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
            ]
        }
        context["hasNICs"] = !rows.isEmpty
        context["canAdd"] = rows.count < MACRules.maximumNICsPerVM
        context["maximumNICs"] = MACRules.maximumNICsPerVM
        if let notice { context["notice"] = notice }
        errors.apply(to: &context)
        return .html(try site.renderer.render("pages/vm-nics", context), status: status)
    }

    private func confirmRemoval(_ request: Request, vm: VirtualMachine, nic: VirtualNIC) throws -> Response {
        let networkName = try nic.networkID.flatMap { id in try site.dependencies.store.read { try $0.network(id) }?.name }
        var context = site.layout.context(title: "Remove \(nic.label)", section: .vms, request: request)
        context["vm"] = ["id": vm.id.rawValue, "name": vm.name]
        context["version"] = vm.version
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
