import AdminSite
import Domain
import Foundation
import Packets
import Storage
import Testing
import TestSupport
import WebServer

/// The DHCP page never loses configuration: scope changes ask first, impossible or dangerous
/// scopes are refused on their field, and the form speaks in subnets and human durations.
@Suite("DHCP Server page: scope")
struct DHCPScopePageTests {
    static func form(_ overrides: [String: String] = [:]) -> [(String, String)] {
        var fields: [String: String] = [
            "action": "save", "version": "0", "enabled": "on", "network": "192.168.140.0", "mask": "255.255.255.0",
            "rangeStart": "192.168.140.16", "rangeEnd": "192.168.140.254", "server": "192.168.140.1", "gateway": "",
            "dnsServers": "", "winsServers": "", "leaseTime": "1 hour", "renewalTime": "30 minutes", "rebindingTime": "52 minutes",
        ]
        for (key, value) in overrides { fields[key] = value }
        return fields.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    static let web = MACAddress(value: 0x0003FF000009)
    static let guest = MACAddress(value: 0x0003FF000007)

    /// A network on 192.168.140.0/24 with a reservation of .50 for `web` and a live lease of .20 to `guest`.
    static func labWithHolders(_ site: SiteFixture) throws -> NetworkID {
        let network = try site.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        let path = "/networks/\(network.id.rawValue)/dhcp"
        #expect(site.post(path, form()).status == 303)
        #expect(site.post(path, [("action", "reserve"), ("version", "1"), ("reservationMAC", "00-03-FF-00-00-09"), ("reservationAddress", "192.168.140.50"), ("reservationHostName", "db")]).status == 303)
        try SQLiteLeaseStore(database: site.database).save([.bound(DHCPLease(
            network: network.id, address: IPv4Address(192, 168, 140, 20), mac: guest, clientID: [], hostName: "guest",
            expires: site.clock.now().addingTimeInterval(3600)))])
        return network.id
    }

    @Test func changingTheScopeListsWhatWouldFallOutsideAndSavesNothingUntilConfirmed() throws {
        let site = try SiteFixture()
        let id = try Self.labWithHolders(site)
        let path = "/networks/\(id.rawValue)/dhcp"
        let before = try site.store.read { try $0.dhcpSettings(of: id) }
        let moved = ["network": "192.168.150.0", "rangeStart": "192.168.150.16", "rangeEnd": "192.168.150.254", "server": "192.168.150.1", "version": "2"]
        let question = site.post(path, Self.form(moved))
        #expect(question.status == 200)
        let page = question.bodyText
        #expect(page.contains("Reservations outside the new network"))
        #expect(page.contains("192.168.140.50") && page.contains("Renumber to 192.168.150.50"))
        #expect(page.contains("Live leases outside the new range") && page.contains("192.168.140.20"))
        #expect(page.contains("name=\"network\" value=\"192.168.150.0\""), "the typed settings ride along")
        #expect(page.contains("name=\"confirmed\" value=\"1\""))
        #expect(try site.store.read { try $0.dhcpSettings(of: id) } == before, "nothing saved yet")

        var confirmed = Self.form(moved)
        confirmed += [("confirmed", "1"), ("reservation-00:03:ff:00:00:09", "renumber"), ("lease-192.168.140.20", "release")]
        #expect(site.post(path, confirmed).status == 303)
        let settings = try #require(try site.store.read { try $0.dhcpSettings(of: id) })
        #expect(settings.network == IPv4Address(192, 168, 150, 0))
        #expect(settings.reservations == [DHCPReservation(mac: Self.web, address: IPv4Address(192, 168, 150, 50), hostName: "db")])
        let lease = try #require(try site.store.read { try $0.leases(of: id) }.first)
        #expect(lease.expires <= site.clock.now(), "released: kept, expired")
        #expect(site.dataplane.changes.contains(.leaseReleased(id, IPv4Address(192, 168, 140, 20))))
        let event = try #require(try site.recorderEvents().first { $0.kind == .dhcpChanged && $0.message.contains("Outside the new scope") })
        #expect(event.message.contains("reservation of 192.168.140.50 for 00:03:ff:00:00:09 renumbered to 192.168.150.50"))
        #expect(event.message.contains("lease of 192.168.140.20 (00:03:ff:00:00:07) released"))
    }

    @Test func keptReservationsStayStoredAndAreMarkedAndKeptLeasesAreNamed() throws {
        let site = try SiteFixture()
        let id = try Self.labWithHolders(site)
        let path = "/networks/\(id.rawValue)/dhcp"
        let moved = ["network": "192.168.150.0", "rangeStart": "192.168.150.16", "rangeEnd": "192.168.150.254", "server": "192.168.150.1", "version": "2"]
        #expect(site.post(path, Self.form(moved) + [("confirmed", "1"), ("reservation-00:03:ff:00:00:09", "keep"), ("lease-192.168.140.20", "keep")]).status == 303)
        let settings = try #require(try site.store.read { try $0.dhcpSettings(of: id) })
        #expect(settings.reservations.map(\.address) == [IPv4Address(192, 168, 140, 50)], "never silently deleted")
        #expect(site.get(path).bodyText.contains("outside the network: not handed out"))
        #expect(try site.store.read { try $0.leases(of: id) }.first?.expires ?? .distantPast > site.clock.now())
        #expect(!site.dataplane.changes.contains { if case .leaseReleased = $0 { return true } else { return false } })
        let event = try #require(try site.recorderEvents().first { $0.kind == .dhcpChanged && $0.message.contains("Outside the new scope") })
        #expect(event.message.contains("kept outside the network") && event.message.contains("kept until its client renews"))

        // Import applies the page's reservation rules, so a definition holding a reservation kept
        // outside its network is refused (a known limit: renumber it before exporting).
        var copy = try site.networks.definition(of: id)
        copy.name = "Copy"
        copy.dhcp?.isEnabled = false
        #expect(throws: ValidationFailure.self) {
            try site.networks.importDefinition(try NetworkDefinitionXML.decode(Array(NetworkDefinitionXML.encode(copy).utf8)))
        }
    }

    @Test func narrowingTheRangeAsksOnlyAboutTheLeasesItStrands() throws {
        let site = try SiteFixture()
        let id = try Self.labWithHolders(site)
        let page = site.post("/networks/\(id.rawValue)/dhcp", Self.form(["rangeStart": "192.168.140.100", "rangeEnd": "192.168.140.200", "version": "2"])).bodyText
        #expect(page.contains("Live leases outside the new range"))
        #expect(!page.contains("Reservations outside the new network"))
        // Back to the form keeps what was typed.
        let back = site.post("/networks/\(id.rawValue)/dhcp", Self.form(["rangeStart": "192.168.140.100", "action": "edit", "version": "2"]))
        #expect(back.status == 200 && back.bodyText.contains("name=\"rangeStart\" value=\"192.168.140.100\""))
    }

    @Test func aSubnetInOneBoxProposesTheRangeAndHumanDurationsAreShownAndAccepted() throws {
        let site = try SiteFixture()
        let network = try site.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        let path = "/networks/\(network.id.rawValue)/dhcp"
        #expect(site.get(path).bodyText.contains("name=\"leaseTime\" value=\"1 day\""))
        let proposal = site.post(path, Self.form(["action": "propose", "network": "10.77.0.0/16", "mask": "", "rangeStart": "192.168.140.16"]))
        #expect(proposal.status == 200)
        for (field, value) in [("network", "10.77.0.0"), ("mask", "255.255.0.0"), ("rangeStart", "10.77.0.16"), ("rangeEnd", "10.77.255.254"), ("server", "10.77.0.1")] {
            #expect(proposal.bodyText.contains("name=\"\(field)\" value=\"\(value)\""), "\(field)")
        }
        #expect(try site.store.read { try $0.dhcpSettings(of: network.id) } == nil, "a proposal saves nothing")
        #expect(site.post(path, Self.form(["network": "10.77.0.0/16", "mask": "", "rangeStart": "", "rangeEnd": "", "server": "", "leaseTime": "2 days", "renewalTime": "1 day", "rebindingTime": "42 hours"])).status == 303)
        let settings = try #require(try site.store.read { try $0.dhcpSettings(of: network.id) })
        #expect(settings.rangeEnd == IPv4Address(10, 77, 255, 254))
        #expect((settings.leaseTime, settings.renewalTime, settings.rebindingTime) == (172_800, 86_400, 151_200))
        #expect(site.get(path).bodyText.contains("name=\"rebindingTime\" value=\"1 day 18 hours\""))
        #expect(site.post(path, Self.form(["leaseTime": "7200", "renewalTime": "3600", "rebindingTime": "6300", "version": "1"])).status == 303, "plain seconds still work")
    }

    @Test(arguments: [
        (["network": "0.0.0.0", "rangeStart": "0.0.0.16", "rangeEnd": "0.0.0.254", "server": "0.0.0.1"], "network", "“this network”"),
        (["network": "127.0.0.0", "rangeStart": "127.0.0.16", "rangeEnd": "127.0.0.254", "server": "127.0.0.1"], "network", "loopback"),
        (["network": "224.1.0.0", "rangeStart": "224.1.0.16", "rangeEnd": "224.1.0.254", "server": "224.1.0.1"], "network", "multicast"),
        (["network": "240.0.0.0", "rangeStart": "240.0.0.16", "rangeEnd": "240.0.0.254", "server": "240.0.0.1"], "network", "reserved"),
        (["mask": "255.255.255.240", "rangeEnd": "192.168.140.14", "rangeStart": "192.168.140.14"], "mask", "255.255.255.224"),
        (["mtu": "40"], "mtu", "68 to 65535"),
        (["domainName": "lab..example"], "domainName", "empty label"),
        (["classlessRoutes": "10.0.0.1/8 via 192.168.140.254"], "classlessRoutes", "host bits set"),
        (["biosBootFile": "pxelinux.0"], "nextServer", "TFTP server"),
    ])
    func dangerousOrImpossibleScopesAndBadOptionsAreRefusedOnTheirField(overrides: [String: String], field: String, message: String) throws {
        let site = try SiteFixture()
        let network = try site.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        let page = site.post("/networks/\(network.id.rawValue)/dhcp", Self.form(overrides))
        #expect(page.status == 422)
        let body = page.bodyText
        let fieldStart = try #require(body.range(of: "id=\"\(field)\" name=\"\(field)\""), "the field is on the page")
        let fieldEnd = body[fieldStart.upperBound...].range(of: "</div>")?.lowerBound ?? body.endIndex
        #expect(body[fieldStart.lowerBound..<fieldEnd].contains(message), "the message sits in the \(field) field")
        #expect(body[fieldStart.lowerBound..<fieldEnd].contains("aria-invalid=\"true\""))
        for (key, value) in overrides { #expect(body.contains("name=\"\(key)\" value=\"\(value)\""), "\(key) kept") }
        #expect(try site.store.read { try $0.dhcpSettings(of: network.id) } == nil)
    }

    @Test func theHostsLANAndAnotherEnabledNetworksScopeAreRefused() throws {
        let site = try SiteFixture(hostNetworks: [(IPv4Address(192, 168, 140, 0), IPv4Address(255, 255, 255, 0))])
        let lab = try site.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        let refused = site.post("/networks/\(lab.id.rawValue)/dhcp", Self.form())
        #expect(refused.status == 422)
        #expect(refused.bodyText.contains("is a LAN the host is on"))
        #expect(site.post("/networks/\(lab.id.rawValue)/dhcp", Self.form(["network": "192.168.141.0", "rangeStart": "192.168.141.16", "rangeEnd": "192.168.141.254", "server": "192.168.141.1"])).status == 303)

        let other = try site.networks.create(NetworkDraft(name: "Other", adapter: nil, notes: ""))
        let overlap = site.post("/networks/\(other.id.rawValue)/dhcp", Self.form(["network": "192.168.0.0", "mask": "255.255.0.0", "rangeStart": "192.168.200.16", "rangeEnd": "192.168.200.254", "server": "192.168.0.1"]))
        #expect(overlap.status == 422)
        #expect(overlap.bodyText.contains("overlaps the DHCP scope of “Lab”"))
        // With its server off the scope may be the same: only running servers would collide.
        #expect(site.post("/networks/\(other.id.rawValue)/dhcp", Self.form(["enabled": "", "network": "192.168.141.0", "rangeStart": "192.168.141.16", "rangeEnd": "192.168.141.254", "server": "192.168.141.1"])).status == 303)

        // An import is refused the same way.
        var copy = try site.networks.definition(of: lab.id)
        copy.name = "Copy"
        let file = Array(NetworkDefinitionXML.encode(copy).utf8)
        let imported = site.postFile("/networks/import", field: "file", filename: "copy.xml", content: file)
        #expect(imported.status == 422)
        #expect(imported.bodyText.contains("overlaps the DHCP scope of “Lab”"))
    }

    @Test func anExternalNetworkMayUseTheHostsLANAndIsWarned() throws {
        let site = try SiteFixture(hostNetworks: [(IPv4Address(192, 168, 140, 0), IPv4Address(255, 255, 255, 0))])
        try site.bindings.setBindings(bound: ["eth0"])
        let lan = try site.networks.create(NetworkDraft(name: "LAN", adapter: "eth0", notes: ""))
        #expect(site.post("/networks/\(lan.id.rawValue)/dhcp", Self.form()).status == 303)
        #expect(site.get("/networks/\(lan.id.rawValue)/dhcp").bodyText.contains("This scope lies on a LAN the host is on (192.168.140.0/24)"))
    }

    @Test func theGatewayAndDNSServersInTheRangeAreNamedBesideIt() throws {
        let site = try SiteFixture()
        let network = try site.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        let path = "/networks/\(network.id.rawValue)/dhcp"
        #expect(site.post(path, Self.form(["gateway": "192.168.140.254", "dnsServers": "192.168.140.2, 192.168.140.53"])).status == 303)
        let page = site.get(path).bodyText
        #expect(page.contains("The gateway 192.168.140.254 and the DNS server 192.168.140.53 lie in the range: the server never hands them out."))
        #expect(!page.contains("DNS server 192.168.140.2 "))
    }
}
