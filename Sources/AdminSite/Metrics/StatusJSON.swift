import Domain
import Foundation
import WebServer

/// The status pages for scripts: `GET /`, `/networks`, `/networks/{id}`, `/vms` and `/vms/{id}`
/// with `Accept: application/json` answer the facts their HTML shows, as JSON (ids, names, kinds,
/// attachment, counters, learned addresses, DHCP activity and leases). Behind the session gate
/// like the pages; every other request goes on to the pages.
struct StatusJSON: HTTPResponder {
    let next: any HTTPResponder
    let dependencies: SiteDependencies

    static func wantsJSON(_ request: Request) -> Bool {
        guard let accept = request.header("Accept")?.lowercased() else { return false }
        return accept.split(separator: ",").contains { $0.split(separator: ";").first?.trimmingCharacters(in: .whitespaces) == "application/json" }
    }

    func admission(for head: Request) -> Admission { next.admission(for: head) }

    func respond(to request: Request) -> Response {
        guard request.method == "GET" || request.method == "HEAD", Self.wantsJSON(request) else { return next.respond(to: request) }
        let parts = request.path.split(separator: "/").map(String.init)
        do {
            let body: Any?
            switch parts.count {
            case 0: body = try master()
            case 1 where parts[0] == "networks": body = try networks()
            case 2 where parts[0] == "networks": body = try network(NetworkID(rawValue: parts[1]))
            case 1 where parts[0] == "vms": body = try vms()
            case 2 where parts[0] == "vms": body = try vm(VMID(rawValue: parts[1]))
            default: return next.respond(to: request)
            }
            guard let body else {
                return Self.json(["error": "not found"], status: 404)
            }
            return Self.json(body)
        } catch {
            return Self.json(["error": "the store did not answer"], status: 503)
        }
    }

    static func json(_ value: Any, status: Int = 200) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys])) ?? Data("{}".utf8)
        var response = Response(status: status, body: [UInt8](data))
        response.setHeader("Content-Type", "application/json")
        response.setHeader("Cache-Control", "no-store")
        return response
    }

    private func master() throws -> [String: Any] {
        let summary = try dependencies.store.read { try $0.summary() }
        let info = dependencies.info
        let recent = try dependencies.eventLog.page(offset: 0, limit: 10).events
        return [
            "summary": ["networks": summary.networks, "virtualMachines": summary.virtualMachines, "nics": summary.nics, "connectedNICs": summary.connectedNICs],
            "server": ["version": info.version, "hostName": info.hostName, "listenAddress": info.listenAddress, "dataDirectory": info.dataDirectory,
                       "startedAt": Self.time(info.startedAt), "uptimeSeconds": Int(dependencies.clock.now().timeIntervalSince(info.startedAt))],
            "recentEvents": recent.map { ["time": Self.time($0.time), "kind": $0.kind.rawValue, "message": $0.message, "actor": $0.actor ?? NSNull()] as [String: Any] },
        ]
    }

    private func networks() throws -> [[String: Any]] {
        let networks = try dependencies.store.read { try $0.allNetworks() }
        return networks.map { network in
            let status = dependencies.status.status(of: network.id)
            return ["id": network.id.rawValue, "name": network.name, "kind": MetricsEndpoint.kind(network.kind), "adapter": network.kind.adapterName ?? NSNull(),
                    "running": status.isRunning, "ports": status.ports.count, "attachedPorts": status.ports.filter(\.isAttached).count,
                    "totals": Self.counters(status.totals)]
        }
    }

    private func network(_ id: NetworkID) throws -> [String: Any]? {
        guard let (network, nics, leases) = try dependencies.store.read({ db -> (VirtualNetwork, [NICListing], [DHCPLease])? in
            guard let network = try db.network(id) else { return nil }
            return (network, try db.nics(on: id), try db.leases(of: id))
        }) else { return nil }
        let status = dependencies.status.status(of: id)
        var body: [String: Any] = [
            "id": network.id.rawValue, "name": network.name, "kind": MetricsEndpoint.kind(network.kind), "adapter": network.kind.adapterName ?? NSNull(),
            "notes": network.notes, "running": status.isRunning, "detail": status.detail,
            "ports": status.ports.map(Self.port),
            "nics": nics.map { ["id": $0.nic.id.rawValue, "vm": $0.vmName, "slot": $0.nic.slot, "mac": "\($0.nic.mac)"] as [String: Any] },
            "macTable": ["entries": status.addressCount, "learned": status.tableCounters.learned, "moved": status.tableCounters.moved,
                         "expired": status.tableCounters.expired, "evicted": status.tableCounters.evicted,
                         "addresses": status.addresses.prefix(100).map { ["mac": "\($0.mac)", "port": $0.port, "ageSeconds": $0.ageSeconds] as [String: Any] }],
            "totals": Self.counters(status.totals),
            "history": status.history.map { ["frames": $0.frames, "bytes": $0.bytes] },
            "leases": leases.map(Self.lease),
        ]
        if let dhcp = status.dhcp {
            body["dhcp"] = ["discovers": dhcp.discovers, "offers": dhcp.offers, "acks": dhcp.acks, "naks": dhcp.naks, "declines": dhcp.declines,
                            "releases": dhcp.releases, "informs": dhcp.informs, "exhausted": dhcp.exhausted, "conflicts": dhcp.conflicts,
                            "addressesInUse": dhcp.addressesInUse, "poolSize": dhcp.poolSize]
        }
        return body
    }

    private func vms() throws -> [[String: Any]] {
        try dependencies.store.read { try $0.vms(offset: 0, limit: Int.max) }.map {
            ["id": $0.vm.id.rawValue, "name": $0.vm.name, "nics": $0.nics, "connectedNICs": $0.connectedNICs]
        }
    }

    private func vm(_ id: VMID) throws -> [String: Any]? {
        guard let (vm, nics) = try dependencies.store.read({ db -> (VirtualMachine, [(VirtualNIC, String?, [DHCPLease])])? in
            guard let vm = try db.vm(id) else { return nil }
            return (vm, try db.nics(of: id).map { nic in
                (nic, try nic.networkID.flatMap { try db.network($0)?.name }, try db.leases(of: nic.mac))
            })
        }) else { return nil }
        return [
            "id": vm.id.rawValue, "name": vm.name, "notes": vm.notes,
            "nics": nics.map { nic, networkName, leases -> [String: Any] in
                let port = dependencies.status.status(of: nic.id)
                return ["id": nic.id.rawValue, "slot": nic.slot, "mac": "\(nic.mac)", "network": nic.networkID?.rawValue ?? NSNull(),
                        "networkName": networkName ?? NSNull(), "backend": nic.backend.rawValue, "port": Self.port(port), "leases": leases.map(Self.lease)]
            },
        ]
    }

    static func port(_ port: PortRuntimeStatus) -> [String: Any] {
        var kind: Any = NSNull()
        switch port.kind {
        case .nic(let id)?: kind = ["nic": id.rawValue]
        case .uplink(let adapter)?: kind = ["uplink": adapter]
        case nil: break
        }
        return ["kind": kind, "attached": port.isAttached, "detail": port.detail, "endpoint": port.endpoint ?? NSNull(), "counters": counters(port.counters)]
    }

    static func counters(_ counters: TrafficCounters) -> [String: Any] {
        ["receivedFrames": counters.rxFrames, "receivedBytes": counters.rxBytes, "sentFrames": counters.txFrames, "sentBytes": counters.txBytes,
         "drops": counters.drops.map { ["reason": $0.reason, "count": $0.count] as [String: Any] }]
    }

    static func lease(_ lease: DHCPLease) -> [String: Any] {
        ["address": "\(lease.address)", "mac": "\(lease.mac)", "hostName": lease.hostName ?? NSNull(), "expires": time(lease.expires)]
    }

    static func time(_ date: Date) -> String { ISO8601DateFormatter().string(from: date) }
}
