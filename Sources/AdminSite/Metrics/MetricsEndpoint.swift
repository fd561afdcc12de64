import Domain
import Foundation
import WebServer

/// The process's own figures, read by Application (`/proc/self`).
public struct ProcessFacts: Sendable {
    public var residentBytes: UInt64
    public var virtualBytes: UInt64
    public var openFiles: Int
    public var threads: Int

    public init(residentBytes: UInt64, virtualBytes: UInt64, openFiles: Int, threads: Int) {
        self.residentBytes = residentBytes
        self.virtualBytes = virtualBytes
        self.openFiles = openFiles
        self.threads = threads
    }
}

/// What `/metrics` needs besides the site's dependencies.
public struct MetricsSettings: Sendable {
    public var access: MetricsAccess
    public var requests: RequestCounter
    public var process: @Sendable () -> ProcessFacts

    public init(access: MetricsAccess, requests: RequestCounter, process: @escaping @Sendable () -> ProcessFacts) {
        self.access = access
        self.requests = requests
        self.process = process
    }
}

/// GET /metrics — Prometheus text format, outside the session gate: scrapers have no session.
/// Policy: a stored bearer token or an allowlisted address, otherwise 401 and nothing read.
struct MetricsEndpoint: HTTPResponder, ErrorPageRendering {
    static let path = "/metrics"
    let next: any HTTPResponder
    let settings: MetricsSettings
    let dependencies: SiteDependencies

    func admission(for head: Request) -> Admission {
        guard head.path == Self.path else { return next.admission(for: head) }
        return .accept(maximumBodySize: 0)
    }

    func respond(to request: Request) -> Response {
        guard request.path == Self.path else { return next.respond(to: request) }
        guard request.method == "GET" || request.method == "HEAD" else {
            var response = Response.text("Only GET reads the metrics.\n", status: 405)
            response.setHeader("Allow", "GET, HEAD")
            return response
        }
        guard settings.access.admit(request) != nil else {
            var response = Response.text("A metrics token (Authorization: Bearer) or an allowed address is needed.\n", status: 401)
            response.setHeader("WWW-Authenticate", "Bearer realm=\"vnetd metrics\"")
            return response
        }
        do {
            var response = Response.text(try render())
            response.setHeader("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            response.setHeader("Cache-Control", "no-store")
            return response
        } catch {
            return .text("The metrics cannot be read now: the store did not answer.\n", status: 503)
        }
    }

    func errorPage(status: Int, message: String, for request: Request) -> Response {
        ((next as? any ErrorPageRendering) ?? PlainErrorPages()).errorPage(status: status, message: message, for: request)
    }

    func render() throws -> String {
        var out = PrometheusText()
        let info = dependencies.info
        out.add("vnetd_build_info", .gauge, "vnetd's version, always 1.", ["version": info.version], 1)
        out.add("vnetd_start_time_seconds", .gauge, "When this vnetd started, in seconds since 1970.", [:], info.startedAt.timeIntervalSince1970.rounded())
        let (networks, nics, vms) = try dependencies.store.read { db in
            (try db.allNetworks(), try db.allNICs(), try db.vms(offset: 0, limit: Int.max))
        }
        let vmNames = Dictionary(vms.map { ($0.vm.id, $0.vm.name) }, uniquingKeysWith: { first, _ in first })
        let nicVM = Dictionary(nics.map { ($0.id, (vmNames[$0.vmID] ?? "", $0.slot)) }, uniquingKeysWith: { first, _ in first })
        for network in networks.sorted(by: { $0.id.rawValue < $1.id.rawValue }) {
            let id = network.id.rawValue
            let status = dependencies.status.status(of: network.id)
            out.add("vnetd_network_info", .gauge, "A virtual network: its id, name and kind, always 1.", ["network": id, "name": network.name, "kind": Self.kind(network.kind)], 1)
            out.add("vnetd_network_up", .gauge, "1 while the network's switch runs.", ["network": id], status.isRunning ? 1 : 0)
            Self.traffic(&out, "network", status.totals, ["network": id], port: nil)
            for port in status.ports {
                let label: String
                var vm = ""
                switch port.kind {
                case .nic(let nic)?:
                    label = "nic:" + nic.rawValue
                    if let owner = nicVM[nic] { vm = "\(owner.0), adapter \(owner.1)" }
                case .uplink(let adapter)?:
                    label = "uplink:" + adapter
                case nil:
                    continue
                }
                out.add("vnetd_port_attached", .gauge, "1 while the port's VM, TAP or adapter is attached.",
                        ["network": id, "port": label, "vm": vm], port.isAttached ? 1 : 0)
                Self.traffic(&out, "port", port.counters, ["network": id, "port": label], port: label)
            }
            out.add("vnetd_mac_table_entries", .gauge, "Addresses the network's switch knows now.", ["network": id], status.addressCount)
            let table = status.tableCounters
            out.add("vnetd_mac_table_learned_total", .counter, "Addresses the switch learned.", ["network": id], table.learned)
            out.add("vnetd_mac_table_moved_total", .counter, "Addresses seen moving to another port.", ["network": id], table.moved)
            out.add("vnetd_mac_table_expired_total", .counter, "Addresses aged out.", ["network": id], table.expired)
            out.add("vnetd_mac_table_evicted_total", .counter, "Addresses evicted at the table's limit.", ["network": id], table.evicted)
            if let dhcp = status.dhcp {
                for (type, count) in [("discover", dhcp.discovers), ("offer", dhcp.offers), ("request_ack", dhcp.acks), ("nak", dhcp.naks),
                                      ("decline", dhcp.declines), ("release", dhcp.releases), ("inform", dhcp.informs)] {
                    out.add("vnetd_dhcp_messages_total", .counter, "DHCP messages the network's server received (discover, decline, release, inform) or sent (offer, ack, nak).",
                            ["network": id, "type": type], count)
                }
                out.add("vnetd_dhcp_pool_addresses_in_use", .gauge, "Addresses leased or offered now.", ["network": id], dhcp.addressesInUse)
                out.add("vnetd_dhcp_pool_size", .gauge, "Addresses the DHCP server may hand out.", ["network": id], dhcp.poolSize)
                out.add("vnetd_dhcp_pool_exhausted_total", .counter, "Clients that found no free address.", ["network": id], dhcp.exhausted)
                out.add("vnetd_dhcp_conflicts_total", .counter, "Addresses the ARP probe found in use.", ["network": id], dhcp.conflicts)
                out.add("vnetd_dhcp_malformed_total", .counter, "Malformed DHCP messages dropped.", ["network": id], dhcp.malformed)
            }
        }
        for (status, count) in settings.requests.snapshot {
            out.add("vnetd_http_requests_total", .counter, "Requests the administration site answered, by status code.", ["code": String(status)], count)
        }
        let process = settings.process()
        out.add("process_resident_memory_bytes", .gauge, "Resident memory size in bytes.", [:], process.residentBytes)
        out.add("process_virtual_memory_bytes", .gauge, "Virtual memory size in bytes.", [:], process.virtualBytes)
        out.add("process_open_fds", .gauge, "Open file descriptors.", [:], process.openFiles)
        out.add("process_threads", .gauge, "Threads of the process.", [:], process.threads)
        return out.text
    }

    private static func traffic(_ out: inout PrometheusText, _ scope: String, _ counters: TrafficCounters, _ labels: [String: String], port: String?) {
        let network = labels["network"] ?? ""
        func add(_ name: String, _ help: String, _ value: UInt64) {
            if let port {
                out.add("vnetd_\(scope)_\(name)", .counter, help, ["network": network, "port": port], value)
            } else {
                out.add("vnetd_\(scope)_\(name)", .counter, help, ["network": network], value)
            }
        }
        let whose = scope == "port" ? "the port" : "the network's ports"
        add("received_frames_total", "Frames the switch received from \(whose).", counters.rxFrames)
        add("received_bytes_total", "Bytes the switch received from \(whose).", counters.rxBytes)
        add("sent_frames_total", "Frames the switch sent to \(whose).", counters.txFrames)
        add("sent_bytes_total", "Bytes the switch sent to \(whose).", counters.txBytes)
        for drop in counters.drops {
            if let port {
                out.add("vnetd_\(scope)_dropped_frames_total", .counter, "Frames dropped, by reason.", ["network": network, "port": port, "reason": drop.reason], drop.count)
            } else {
                out.add("vnetd_\(scope)_dropped_frames_total", .counter, "Frames dropped, by reason.", ["network": network, "reason": drop.reason], drop.count)
            }
        }
    }

    static func kind(_ kind: NetworkKind) -> String {
        switch kind {
        case .guestOnly: "guest-only"
        case .external: "external"
        case .host: "host"
        case .nat: "nat"
        }
    }
}
