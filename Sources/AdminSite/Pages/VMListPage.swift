import Domain
import Foundation
import Packets
import WebServer

/// GET /vms — Virtual Machines ▸ View All: per VM, each adapter's network, MAC and address.
struct VMListPage: Sendable {
    let site: SiteContext
    static let pageSize = 100

    /// Cached between changes: everything shown comes from the store (leases are re-read each
    /// minute at most, so one that expired leaves the page within a minute).
    func respond(to request: Request) throws -> Response {
        let now = site.dependencies.clock.now()
        let minute = Int(now.timeIntervalSince1970 / 60)
        let key = "vms|\(request.administrator ?? "")|\(Paging.requestedPage(request))|\(Layout.refreshSeconds(request) ?? 0)|\(request.query["done"] ?? "")|\(minute)"
        return try site.cache.response(key: key, generation: site.dependencies.changes.generation) {
            try render(request, now: now)
        }
    }

    private func render(_ request: Request, now: Date) throws -> Response {
        let (total, paging, rows, nics, names, leases) = try site.dependencies.store.read { db in
            let total = try db.vmCount()
            let paging = Paging(request: request, total: total, pageSize: Self.pageSize)
            let rows = try db.vms(offset: paging.offset, limit: paging.pageSize)
            let shown = Set(rows.map(\.vm.id))
            let nics = Dictionary(grouping: try db.allNICs().filter { shown.contains($0.vmID) }, by: \.vmID)
            let names = try db.networkNames(for: nics.values.flatMap { $0 })
            // Current addresses: leases on the network each adapter is on now.
            var leases: [MACAddress: [DHCPLease]] = [:]
            for network in Set(nics.values.flatMap { $0 }.compactMap(\.networkID)) {
                for lease in try db.leases(of: network) where lease.expires > now { leases[lease.mac, default: []].append(lease) }
            }
            return (total, paging, rows, nics, names, leases)
        }
        var context = site.layout.context(title: "Virtual Machines", section: .vms, request: request)
        context["vms"] = rows.map { row -> [String: Any] in
            let adapters = (nics[row.vm.id] ?? []).sorted { $0.slot < $1.slot }.map { nic -> [String: Any] in
                var item: [String: Any] = ["slot": nic.slot, "mac": Labels.mac(nic.mac)]
                if let network = nic.networkID {
                    item["networkID"] = network.rawValue
                    item["networkName"] = names[network] ?? "?"
                    let addresses = (leases[nic.mac] ?? []).filter { $0.network == network }.map(\.address.description)
                    if !addresses.isEmpty { item["addresses"] = addresses.joined(separator: ", ") }
                }
                return item
            }
            return ["id": row.vm.id.rawValue, "name": row.vm.name, "adapters": adapters, "hasAdapters": !adapters.isEmpty,
                    "nics": row.nics, "connected": row.connectedNICs]
        }
        context["total"] = total
        paging.apply(to: &context, path: "/vms")
        Notices.apply(request, site, to: &context)
        return .html(try site.renderer.render("pages/vms", context))
    }
}
