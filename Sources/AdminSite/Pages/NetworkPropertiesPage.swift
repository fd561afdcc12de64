import Domain
import WebServer

/// GET /networks/{id} — Virtual Network Properties and live status.
struct NetworkPropertiesPage: Sendable {
    let site: SiteContext

    func respond(to request: Request) throws -> Response {
        let dependencies = site.dependencies
        let id = try PathID.network(request)
        let (network, nics, dhcp, leases) = try dependencies.store.read { db in
            (try db.network(id), try db.nics(on: id), try db.dhcpSettings(of: id), try db.leases(of: id))
        }
        let found = try lookup(network, "There is no such virtual network.")
        let adapter = try found.kind.adapterName.map { name in try dependencies.adapters.adapters().first { $0.name == name } }
        let runtime = dependencies.status.status(of: id)
        var context = site.layout.context(title: "Virtual Network Properties: \(found.name)", section: .networks, request: request)
        var summary: [String: Any] = [
            "id": found.id.rawValue,
            "name": found.name,
            "kind": Labels.kind(found.kind),
            "isExternal": found.kind.adapterName != nil,
            "notes": found.notes,
            "hasNotes": !found.notes.isEmpty,
            "created": Formatting.utc(found.createdAt),
            "changed": Formatting.utc(found.changedAt),
            "dhcp": dhcp.map { $0.isEnabled ? "On: \($0.rangeStart)–\($0.rangeEnd), server \($0.server)" : "Off" } ?? "Off",
            "running": runtime.isRunning,
            "runtimeDetail": runtime.detail,
        ]
        if found.kind.adapterName != nil {
            summary["adapterState"] = Labels.adapterState(adapter.flatMap { $0 })
            summary["adapterMissing"] = adapter.flatMap { $0 }?.isPresent != true
        }
        context["network"] = summary
        context["switch"] = [
            "history": Formatting.historyChart(runtime.history),
            "totals": Formatting.counters(runtime.totals),
            "addresses": runtime.addresses.prefix(100).map { ["mac": Labels.mac($0.mac), "port": $0.port, "age": "\($0.ageSeconds) s"] },
            "addressCount": runtime.addressCount,
            "hasAddresses": !runtime.addresses.isEmpty,
            "moreAddresses": runtime.addressCount > 100,
            "table": [
                "learned": runtime.tableCounters.learned, "moved": runtime.tableCounters.moved,
                "expired": runtime.tableCounters.expired, "evicted": runtime.tableCounters.evicted,
            ],
        ]
        context["uplinks"] = runtime.ports.compactMap { port -> [String: Any]? in
            guard case .uplink(let adapter) = port.kind else { return nil }
            return ["adapter": adapter, "attached": port.isAttached, "detail": port.detail, "counters": Formatting.counters(port.counters)]
        }
        context["nics"] = nics.map { listing -> [String: Any] in
            let port = dependencies.status.status(of: listing.nic.id)
            return [
                "counters": Formatting.counters(port.counters),
                "vmID": listing.nic.vmID.rawValue,
                "vmName": listing.vmName,
                "label": listing.nic.label,
                "mac": Labels.mac(listing.nic.mac),
                "assignment": Labels.assignment(listing.nic.assignment),
                "backend": Labels.backend(listing.nic.backend),
                "attached": port.isAttached,
                "portDetail": port.detail,
            ]
        }
        context["nicCount"] = nics.count
        context["leases"] = try LeaseRows.rows(Array(leases.prefix(LeaseRows.pageLimit)), store: dependencies.store, now: dependencies.clock.now())
        context["hasLeases"] = !leases.isEmpty
        context["leaseCount"] = leases.count
        context["moreLeases"] = leases.count > LeaseRows.pageLimit
        return .html(try site.renderer.render("pages/network", context))
    }
}
