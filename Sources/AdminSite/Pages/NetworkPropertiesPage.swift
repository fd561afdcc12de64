import Domain
import WebServer

/// GET /networks/{id} — Virtual Network Properties and live status.
struct NetworkPropertiesPage: Sendable {
    let site: SiteContext

    func respond(to request: Request) throws -> Response {
        try render(request, id: try PathID.network(request), forward: nil, errors: FormErrors(), status: 200)
    }

    /// The page; `forward` and `errors`: a refused port forward form, shown again as typed.
    func render(_ request: Request, id: NetworkID, forward: PortForwardDraft?, errors: FormErrors, status: Int) throws -> Response {
        let dependencies = site.dependencies
        let (network, nics, dhcp, leases, forwards) = try dependencies.store.read { db in
            (try db.network(id), try db.nics(on: id), try db.dhcpSettings(of: id), try db.leases(of: id), try db.portForwards(of: id))
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
            "runtimeDetail": runtime.isRunning ? Self.portCount(runtime) : runtime.detail,
        ]
        if found.kind.adapterName != nil {
            summary["adapterState"] = Labels.adapterState(adapter.flatMap { $0 })
            summary["adapterMissing"] = adapter.flatMap { $0 }?.isPresent != true
        }
        context["network"] = summary
        if let section = HostNetworkSection.context(network: found, scope: dhcp, runtime: runtime, nics: nics, forwards: forwards, form: forward) {
            context["hostNetwork"] = section
            errors.apply(to: &context)
        }
        context["switch"] = [
            "history": Formatting.historyChart(runtime.history, sent: runtime.sentHistory),
            "totals": Formatting.counters(runtime.totals),
            "addresses": runtime.addresses.prefix(100).map { ["mac": Labels.mac($0.mac), "port": $0.port, "age": "\($0.ageSeconds) s"] },
            // Pinned addresses (each port's own, the DHCP server's) are listed too: count what is listed.
            "addressCount": max(runtime.addressCount, runtime.addresses.count),
            "hasAddresses": !runtime.addresses.isEmpty,
            "moreAddresses": max(runtime.addressCount, runtime.addresses.count) > 100,
            "table": [
                "learned": runtime.tableCounters.learned, "moved": runtime.tableCounters.moved,
                "expired": runtime.tableCounters.expired, "evicted": runtime.tableCounters.evicted,
            ],
        ]
        context["uplinks"] = runtime.ports.compactMap { port -> [String: Any]? in
            guard case .uplink(let adapter) = port.kind else { return nil }
            return ["adapter": adapter, "state": PortStates.context(PortStates.of(uplink: port)), "counters": Formatting.counters(port.counters)]
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
                "state": PortStates.context(PortStates.of(nic: listing.nic, port)),
            ]
        }
        context["nicCount"] = nics.count
        context["leases"] = try markLeft(try LeaseRows.rows(Array(leases.prefix(LeaseRows.pageLimit)), store: dependencies.store, now: dependencies.clock.now()),
                                         leases: Array(leases.prefix(LeaseRows.pageLimit)), network: id)
        if let dns = runtime.dns { context["dns"] = Self.names(dns) }
        context["hasLeases"] = !leases.isEmpty
        context["leaseCount"] = leases.count
        context["moreLeases"] = leases.count > LeaseRows.pageLimit
        Notices.apply(request, site, to: &context)
        context["leaseNote"] = "A lease marked “adapter left” belongs to an adapter that is now elsewhere; it stays until it expires or the address is needed."
        return .html(try site.renderer.render("pages/network", context), status: status)
    }

    /// "Switching 3 ports: 2 adapters and the uplink; the DHCP server is one more port." Counts what
    /// the Ports table lists, and names the DHCP server apart.
    static func portCount(_ runtime: NetworkRuntimeStatus) -> String {
        let adapters = runtime.ports.filter { if case .nic = $0.kind { return true } else { return false } }.count
        let uplinks = runtime.ports.count - adapters
        var text = "Switching \(adapters) adapter port\(adapters == 1 ? "" : "s")"
        if uplinks > 0 { text += " and the uplink" }
        if runtime.dhcp != nil { text += "; the DHCP server is one more port on the switch" }
        return text + "."
    }

    /// The names the network's DNS server answers, and its counters.
    static func names(_ dns: DNSZoneStatus) -> [String: Any] {
        [
            "domain": dns.domain, "forwards": dns.forwardsOutside, "queries": dns.queries,
            "forwarded": dns.forwarded, "cached": dns.cached, "failures": dns.upstreamFailures,
            "outside": dns.outsideQueries, "hasOutside": dns.outsideQueries > 0,
            "names": dns.names.map { ["name": $0.name, "addresses": $0.addresses.joined(separator: ", ")] as [String: Any] },
            "more": dns.nameCount > dns.names.count, "shown": dns.names.count, "count": dns.nameCount,
            "hasSkipped": !dns.skippedNames.isEmpty, "skipped": dns.skippedNames.joined(separator: ", "),
        ]
    }

    /// Marks leases whose adapter has left this network since it got them.
    private func markLeft(_ rows: [[String: Any]], leases: [DHCPLease], network: NetworkID) throws -> [[String: Any]] {
        let owners = try site.dependencies.store.read { db in try leases.map { try db.nic(using: $0.mac) } }
        return zip(rows, owners).map { row, owner in
            guard let owner, owner.nic.networkID != network else { return row }
            var marked = row
            marked["leftNote"] = "adapter left"
            return marked
        }
    }
}
