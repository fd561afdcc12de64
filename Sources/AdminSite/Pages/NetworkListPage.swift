import Domain
import Foundation
import WebServer

/// GET /networks — Virtual Networks ▸ View All: what an administrator scans for, per network: kind
/// and adapter, DHCP scope, ports attached of those connected, and traffic now.
struct NetworkListPage: Sendable {
    let site: SiteContext
    static let pageSize = 100

    /// Reused while neither the store nor the published runtime status changed (the data path
    /// publishes every second and after each change), and, when it lists an external network,
    /// while the host adapters present are the same.
    func respond(to request: Request) throws -> Response {
        let dependencies = site.dependencies
        let generation = dependencies.changes.generation, publication = dependencies.status.publication
        let key = "networks|\(request.administrator ?? "")|\(Paging.requestedPage(request))|\(Layout.refreshSeconds(request) ?? 0)|\(request.query["done"] ?? "")"
        return try site.cache.response(key: key, generation: generation, publication: publication, now: dependencies.clock.now(),
                                       current: { Self.digest(dependencies.adapters.presentAdapterNames()) }) {
            try render(request)
        }
    }

    private static func digest(_ adapters: Set<String>) -> String { adapters.sorted().joined(separator: "/") }

    private func render(_ request: Request) throws -> (Response, expires: Date?, condition: String?) {
        let dependencies = site.dependencies
        let (total, paging, rows, scopes) = try dependencies.store.read { db in
            let total = try db.networkCount()
            let paging = Paging(request: request, total: total, pageSize: Self.pageSize)
            let scopes = Dictionary(try db.allDHCPSettings().filter { $0.1.isEnabled }, uniquingKeysWith: { first, _ in first })
            return (total, paging, try db.networks(offset: paging.offset, limit: paging.pageSize), scopes)
        }
        let external = rows.contains { $0.network.kind.adapterName != nil }
        let present = external ? dependencies.adapters.presentAdapterNames() : []
        var context = site.layout.context(title: "Virtual Networks", section: .networks, request: request)
        context["networks"] = rows.map { row -> [String: Any] in
            let runtime = dependencies.status.status(of: row.network.id)
            let attached = runtime.ports.filter { port in
                if case .nic = port.kind { return port.isAttached }
                return false
            }.count
            let uplinkDown = runtime.ports.contains { port in
                if case .uplink = port.kind { return !port.isAttached }
                return false
            }
            let now = runtime.history.last ?? TrafficSample(frames: 0, bytes: 0)
            return [
                "id": row.network.id.rawValue,
                "name": row.network.name,
                "kind": Labels.kind(row.network.kind),
                "isExternal": row.network.kind.adapterName != nil,
                "adapterMissing": row.network.kind.adapterName.map { !present.contains($0) } ?? false,
                "uplinkDown": uplinkDown,
                "connected": row.connectedNICs,
                "attached": attached,
                "dhcp": scopes[row.network.id].map { "\($0.rangeStart)–\($0.rangeEnd)" } ?? "Off",
                "dhcpOn": scopes[row.network.id] != nil,
                "traffic": runtime.isRunning ? "\(Formatting.bytes(now.bytes))/s, \(now.frames) frames/s" : "—",
            ]
        }
        context["total"] = total
        paging.apply(to: &context, path: "/networks")
        Notices.apply(request, site, to: &context)
        return (try site.renderer.page("pages/networks", context), nil, external ? Self.digest(present) : nil)
    }
}
