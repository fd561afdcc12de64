import Domain
import Foundation
import Logging
import Packets
import Testing
import TestSupport
import WebServer
@testable import AdminSite

/// What `/metrics` says about a network, from the runtime status the data path reports (canned
/// here): per port frames, bytes and drops by reason, the MAC table, the DHCP server's messages and
/// pool use; and the text format's rules (each family once, labels escaped).
@Suite("Metrics text")
struct MetricsTextTests {
    struct NoTokens: MetricsTokenVerifying {
        func tokenName(forHash hash: String) -> String? { nil }
    }

    @Test func aNetworksCountersDropsTableAndDHCPAreReported() throws {
        let site = try SiteFixture()
        let network = try site.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        let vm = try site.vms.create(name: "web", notes: "", connectingTo: network.id)
        let nic = try #require(try site.store.read { try $0.nics(of: vm.id) }.first)
        var counters = TrafficCounters()
        counters.rxFrames = 12; counters.rxBytes = 1_200; counters.txFrames = 7; counters.txBytes = 700
        counters.drops = [TrafficCounters.Drop(reason: "source MAC not the adapter's", count: 3)]
        var dhcp = DHCPRuntimeStatus()
        dhcp.discovers = 4; dhcp.offers = 4; dhcp.acks = 2; dhcp.naks = 1; dhcp.declines = 1; dhcp.addressesInUse = 2; dhcp.poolSize = 239
        var table = TableCounters()
        table.learned = 5; table.evicted = 1
        site.status.set(NetworkRuntimeStatus(
            isRunning: true, detail: "Running",
            ports: [PortRuntimeStatus(kind: .nic(nic.id), isAttached: true, detail: "Attached", counters: counters)],
            addressCount: 3, tableCounters: table, totals: counters, dhcp: dhcp), for: network.id)

        let settings = MetricsSettings(
            access: MetricsAccess(tokens: NoTokens(), allowedClients: [try #require(MetricsAccess.ClientRange(parsing: "192.0.2.0/24"))]),
            requests: RequestCounter(), process: { ProcessFacts(residentBytes: 42 << 20, virtualBytes: 1 << 30, openFiles: 17, threads: 9) })
        let responder = AdminSite.makeResponder(
            dependencies: site.dependencies, renderer: try TemplateRenderer(directory: repositoryRoot + "/Templates"),
            publicDirectory: repositoryRoot + "/Public", logger: Logger(label: "test"), metrics: settings)

        let refused = responder.respond(to: Request(method: "GET", path: "/metrics", clientAddress: "198.51.100.7"))
        #expect(refused.status == 401 && refused.header("WWW-Authenticate")?.hasPrefix("Bearer") == true)
        let reply = responder.respond(to: Request(method: "GET", path: "/metrics", clientAddress: "192.0.2.10"))
        #expect(reply.status == 200)
        #expect(reply.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8")
        let text = reply.bodyText
        let id = network.id.rawValue, port = "nic:" + nic.id.rawValue
        for line in [
            "vnetd_network_info{network=\"\(id)\",name=\"Lab\",kind=\"guest-only\"} 1",
            "vnetd_port_attached{network=\"\(id)\",port=\"\(port)\",vm=\"web, adapter 1\"} 1",
            "vnetd_port_received_frames_total{network=\"\(id)\",port=\"\(port)\"} 12",
            "vnetd_port_sent_bytes_total{network=\"\(id)\",port=\"\(port)\"} 700",
            "vnetd_port_dropped_frames_total{network=\"\(id)\",port=\"\(port)\",reason=\"source MAC not the adapter's\"} 3",
            "vnetd_mac_table_entries{network=\"\(id)\"} 3",
            "vnetd_mac_table_evicted_total{network=\"\(id)\"} 1",
            "vnetd_dhcp_messages_total{network=\"\(id)\",type=\"offer\"} 4",
            "vnetd_dhcp_messages_total{network=\"\(id)\",type=\"nak\"} 1",
            "vnetd_dhcp_messages_total{network=\"\(id)\",type=\"decline\"} 1",
            "vnetd_dhcp_pool_addresses_in_use{network=\"\(id)\"} 2",
            "vnetd_dhcp_pool_size{network=\"\(id)\"} 239",
            "vnetd_http_requests_total{code=\"401\"} 1",
            "process_resident_memory_bytes 44040192",
            "process_open_fds 17",
        ] {
            #expect(text.split(separator: "\n").contains(Substring(line)), "\(line)\n\(text)")
        }
        // Each family's HELP and TYPE once, before its samples, all samples together.
        let types = text.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { $0.split(separator: " ")[2] }
        #expect(types.count == Set(types).count)
        #expect(text.contains("# TYPE vnetd_dhcp_messages_total counter\n"))
    }

    @Test func labelValuesAndHelpAreEscaped() {
        var out = PrometheusText()
        out.add("x_total", .counter, "a \\ help\nline", ["v": "quote \" back \\ new\nline"], 1)
        out.add("y", .gauge, "y", [:], 0.5)
        out.add("x_total", .counter, "ignored", ["v": "second"], UInt64(2))
        #expect(out.text == """
            # HELP x_total a \\\\ help\\nline
            # TYPE x_total counter
            x_total{v="quote \\" back \\\\ new\\nline"} 1
            x_total{v="second"} 2
            # HELP y y
            # TYPE y gauge
            y 0.5

            """)
    }

    @Test func clientRangesParseAndMatch() throws {
        let network = try #require(MetricsAccess.ClientRange(parsing: "10.1.2.3/8"))
        #expect(network == .ipv4(network: IPv4Address(10, 0, 0, 0), prefixLength: 8))
        #expect(network.contains("10.200.0.1") && network.contains("::ffff:10.0.0.9") && !network.contains("11.0.0.1"))
        #expect(MetricsAccess.ClientRange(parsing: "::1")?.contains("::1") == true)
        for bad in ["", "10.0.0.0/33", "10.0.0.0/", "host.example", "1.2.3.4/8/9", "::1/64"] {
            #expect(MetricsAccess.ClientRange(parsing: bad) == nil, "\(bad)")
        }
    }
}
