import Domain
import Foundation
import Packets
import Testing
import WebServer

/// Pages with a switching core that reports something: live port state, counters, learned
/// addresses (as the README promises on the network page), and a host that is on a network.
@Suite("Live state on pages, from a canned switching core and host")
struct LiveStatePagesTests {
    @Test func theNetworkPageShowsPortStateCountersAndLearnedAddresses() throws {
        let site = try SiteFixture()
        let network = try site.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        let web = try site.vms.create(name: "web", notes: "", connectingTo: network.id)
        let db = try site.vms.create(name: "db", notes: "", connectingTo: network.id)
        let webNIC = try #require(try site.store.read { try $0.nics(of: web.id) }.first)
        let dbNIC = try #require(try site.store.read { try $0.nics(of: db.id) }.first)

        let before = site.get("/networks/\(network.id.rawValue)").bodyText
        #expect(before.contains("The switching core is not running."), "control: nothing live before the core reports")
        #expect(!before.contains("4242 frames"))

        var webCounters = TrafficCounters()
        webCounters.rxFrames = 4242
        webCounters.txFrames = 1717
        webCounters.drops = [TrafficCounters.Drop(reason: "spoofed source MAC", count: 3)]
        site.status.set(PortRuntimeStatus(kind: .nic(webNIC.id), isAttached: true, detail: "", endpoint: "/run/vnetd/web.sock", counters: webCounters), for: webNIC.id)
        site.status.set(PortRuntimeStatus(kind: .nic(dbNIC.id), isAttached: false, detail: "Needs CAP_NET_ADMIN to create its TAP"), for: dbNIC.id)
        var totals = TrafficCounters()
        totals.rxFrames = 9001
        var table = TableCounters()
        table.learned = 5
        table.evicted = 2
        site.status.set(NetworkRuntimeStatus(
            isRunning: true, detail: "Running",
            addresses: [LearnedAddress(mac: webNIC.mac, port: "web, adapter 1", ageSeconds: 12)], addressCount: 1,
            tableCounters: table, totals: totals), for: network.id)

        let page = site.get("/networks/\(network.id.rawValue)")
        #expect(page.status == 200)
        let html = page.bodyText
        #expect(!html.contains("The switching core is not running."))
        #expect(html.contains("4242 frames") && html.contains("1717 frames"), "the web NIC's counters")
        #expect(html.contains("dropped: 3 spoofed source MAC"))
        #expect(html.contains("<span class=\"badge information\">Attached</span>"))
        #expect(html.contains("Needs CAP_NET_ADMIN to create its TAP"), "why the db NIC is not attached")
        #expect(html.contains("Learned addresses (1)"))
        let mac = webNIC.mac.formatted(separator: "-", uppercase: true)
        #expect(html.contains("<td data-label=\"MAC address\"><code>\(mac)</code></td><td data-label=\"Port\">web, adapter 1</td><td data-label=\"Last seen\">12 s ago</td>"))
        #expect(html.contains("9001 frames"), "the network's totals")
    }

    /// Issue 14, pages: the network page lists the names its DNS server answers, with their
    /// addresses and what the server did; a network whose server serves no names shows no section.
    @Test func theNetworkPageListsTheNamesItsDNSServerAnswers() throws {
        let site = try SiteFixture()
        let network = try site.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        site.status.set(NetworkRuntimeStatus(isRunning: true, detail: "Running"), for: network.id)
        #expect(!site.get("/networks/\(network.id.rawValue)").bodyText.contains("Names (DNS)"), "control: no DNS server, no section")

        var running = NetworkRuntimeStatus(isRunning: true, detail: "Running")
        var dns = DNSZoneStatus(
            domain: "lab.vnetd.internal",
            names: [DNSZoneStatus.Name(name: "db.lab.vnetd.internal", addresses: ["192.168.131.50"]),
                    DNSZoneStatus.Name(name: "web.lab.vnetd.internal", addresses: ["192.168.131.16", "fd00:1:2:3:203:ffff:fe00:7"])],
            nameCount: 203, skippedNames: ["<b>x</b>"], forwardsOutside: true)
        dns.queries = 77
        dns.forwarded = 12
        dns.cached = 30
        dns.outsideQueries = 4
        running.dns = dns
        site.status.set(running, for: network.id)
        let html = site.get("/networks/\(network.id.rawValue)").bodyText
        #expect(html.contains("<h2>Names (DNS)</h2>"))
        #expect(html.contains("answers for <strong>lab.vnetd.internal</strong> and sends other names to the host's resolvers"))
        #expect(html.contains("Queries so far: 77 (12 sent upstream, 30 answered from the cache, 0 failed upstream); 4 from outside the network dropped."))
        #expect(html.contains("<td data-label=\"Name\"><code>web.lab.vnetd.internal</code></td><td data-label=\"Addresses\">192.168.131.16, fd00:1:2:3:203:ffff:fe00:7</td>"))
        #expect(html.contains("<code>db.lab.vnetd.internal</code>"))
        #expect(html.contains("The first 2 of 203 names."), "a long zone says what is left out")
        #expect(html.contains("Not served, not being DNS names: &lt;b&gt;x&lt;/b&gt;"), "escaped")
    }

    @Test func theProposedDHCPNetworkAvoidsTheHostsNetwork() throws {
        let host = (network: IPv4Address(192, 168, 131, 0), mask: IPv4Address(255, 255, 255, 0))
        let plain = try SiteFixture()
        let control = try plain.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        #expect(try plain.dhcp.settings(of: control.id).network == host.network, "control: the first proposal is the host's network")

        let site = try SiteFixture(hostNetworks: [host])
        let lab = try site.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        let proposal = try site.dhcp.settings(of: lab.id)
        #expect(!proposal.overlaps(network: host.network, mask: host.mask))
        #expect(proposal.network == IPv4Address(192, 168, 132, 0), "the next free /24")
        let page = site.get("/networks/\(lab.id.rawValue)/dhcp").bodyText
        #expect(page.contains("value=\"192.168.132.0\""))
        #expect(!page.contains("value=\"192.168.131."))
    }
}
