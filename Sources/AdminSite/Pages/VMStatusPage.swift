import Domain
import WebServer

/// GET /vms/{id} — a VM's network adapters: where each is connected, its address and port state.
struct VMStatusPage: Sendable {
    let site: SiteContext

    func respond(to request: Request) throws -> Response {
        let dependencies = site.dependencies
        let id = try PathID.vm(request)
        let (vm, nics, names, leases) = try dependencies.store.read { db in
            let nics = try db.nics(of: id)
            let leases = Dictionary(grouping: try nics.flatMap { try db.leases(of: $0.mac) }, by: \.mac)
            let names = try db.networkNames(for: nics)
            return (try db.vm(id), nics, names, leases)
        }
        let found = try lookup(vm, "There is no such virtual machine.")
        let now = dependencies.clock.now()
        var context = site.layout.context(title: "Virtual Machine: \(found.name)", section: .vms, request: request)
        context["vm"] = [
            "id": found.id.rawValue, "name": found.name, "notes": found.notes, "hasNotes": !found.notes.isEmpty,
            "created": Formatting.utc(found.createdAt), "changed": Formatting.utc(found.changedAt),
        ]
        context["nics"] = nics.map { nic -> [String: Any] in
            let port = dependencies.status.status(of: nic.id)
            var row: [String: Any] = [
                "counters": Formatting.counters(port.counters),
                "addresses": (leases[nic.mac] ?? []).filter { $0.expires > now }.map { "\($0.address) (DHCP, until \(Formatting.utc($0.expires)))" },
                "attach": AttachInstructions.lines(for: nic, vmName: found.name, endpoint: port.endpoint),
                "label": nic.label,
                "mac": Labels.mac(nic.mac),
                "assignment": Labels.assignment(nic.assignment),
                "backend": Labels.backend(nic.backend),
                "attached": port.isAttached,
                "portDetail": port.detail,
            ]
            if let network = nic.networkID {
                row["networkID"] = network.rawValue
                row["networkName"] = names[network] ?? "?"
            }
            return row
        }
        context["hasNICs"] = !nics.isEmpty
        return .html(try site.renderer.render("pages/vm", context))
    }
}
