import Domain
import Foundation
import WebServer

/// GET /vms/{id} — a VM's network adapters: where each is connected, its address and port state,
/// and the commands that attach it.
struct VMStatusPage: Sendable {
    let site: SiteContext

    /// Reused while neither the store nor the published runtime status changed, until the first
    /// lease shown runs out.
    func respond(to request: Request) throws -> Response {
        let dependencies = site.dependencies
        let id = try PathID.vm(request)
        let generation = dependencies.changes.generation, publication = dependencies.status.publication
        let key = "vm|\(id.rawValue)|\(request.administrator ?? "")|\(Layout.refreshSeconds(request) ?? 0)|\(request.query["done"] ?? "")"
        return try site.cache.response(key: key, generation: generation, publication: publication, now: dependencies.clock.now()) {
            try render(request, id: id)
        }
    }

    private func render(_ request: Request, id: VMID) throws -> (Response, expires: Date?) {
        let dependencies = site.dependencies
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
        let ports = nics.map { dependencies.status.status(of: $0.id) }
        context["nics"] = zip(nics, ports).map { nic, port -> [String: Any] in
            // Only addresses from the network the adapter is on now: a lease from before a move is not its address.
            let current = (leases[nic.mac] ?? []).filter { $0.expires > now && $0.network == nic.networkID }
            var row: [String: Any] = [
                "counters": Formatting.counters(port.counters),
                "addresses": current.map { "\($0.address) (DHCP, until \(Formatting.utc($0.expires)))" }
                    + port.ipv6Addresses.map { "\($0) (IPv6, seen on the network)" },
                "attach": AttachInstructions.lines(for: nic, vmName: found.name, endpoint: port.endpoint),
                "label": nic.label,
                "slot": nic.slot,
                "mac": Labels.mac(nic.mac),
                "assignment": Labels.assignment(nic.assignment),
                "backend": Labels.backend(nic.backend),
                "state": PortStates.context(PortStates.of(nic: nic, port)),
            ]
            if let network = nic.networkID {
                row["networkID"] = network.rawValue
                row["networkName"] = names[network] ?? "?"
            }
            return row
        }
        if let command = AttachInstructions.qemuCommand(vmName: found.name, nics: Array(zip(nics, ports.map(\.endpoint)))) {
            context["qemu"] = ["command": command, "id": "command-qemu"]
        }
        context["hasNICs"] = !nics.isEmpty
        Notices.apply(request, site, to: &context)
        let firstExpiry = leases.values.joined().map(\.expires).filter { $0 > now }.min()
        return (.html(try site.renderer.render("pages/vm", context)), firstExpiry)
    }
}
