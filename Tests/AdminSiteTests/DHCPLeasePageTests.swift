import AdminSite
import Domain
import Foundation
import Packets
import Storage
import Testing
import TestSupport
import WebServer

@Suite("DHCP Server page: options and lease actions")
struct DHCPLeasePageTests {
    static let guest = MACAddress(value: 0x0003FF000007)

    func labWithLeases(_ site: SiteFixture, hostNames: [String?] = ["guest"]) throws -> NetworkID {
        let network = try site.networks.create(NetworkDraft(name: "Lab, east #1", adapter: nil, notes: ""))
        #expect(site.post("/networks/\(network.id.rawValue)/dhcp", DHCPScopePageTests.form()).status == 303)
        try SQLiteLeaseStore(database: site.database).save(hostNames.enumerated().map { index, name in
            .bound(DHCPLease(network: network.id, address: IPv4Address(value: IPv4Address(192, 168, 140, 20).value + UInt32(index)),
                             mac: MACAddress(value: Self.guest.value + UInt64(index)), clientID: [], hostName: name,
                             expires: site.clock.now().addingTimeInterval(3600)))
        })
        return network.id
    }

    @Test func everyOptionIsExplainedSavedAndShownAgain() throws {
        let site = try SiteFixture()
        let network = try site.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        let path = "/networks/\(network.id.rawValue)/dhcp"
        let page = site.get(path).bodyText
        for label in ["Domain name", "DNS search list", "Classless static routes", "MTU", "NTP servers", "Next server", "BIOS boot file", "UEFI boot file", "iPXE boot file or URL"] {
            #expect(page.contains(label), "\(label)")
        }
        #expect(page.contains("id=\"classlessRoutes-help\""), "each option has its one-line explanation")
        let options = [
            "domainName": "lab.example", "searchDomains": "lab.example, example.org", "classlessRoutes": "10.20.0.0/16 via 192.168.140.254",
            "mtu": "1400", "ntpServers": "192.168.140.3", "nextServer": "192.168.140.4", "biosBootFile": "undionly.kpxe",
            "uefiBootFile": "ipxe.efi", "ipxeBootFile": "http://192.168.140.4/boot.ipxe?mac=${net0/mac}&a=<b>",
        ]
        #expect(site.post(path, DHCPScopePageTests.form(options)).status == 303)
        let settings = try #require(try site.store.read { try $0.dhcpSettings(of: network.id) })
        #expect(settings.mtu == 1400 && settings.searchDomains == ["lab.example", "example.org"])
        #expect(settings.boot.ipxeFile == "http://192.168.140.4/boot.ipxe?mac=${net0/mac}&a=<b>")
        let shown = site.get(path).bodyText
        #expect(shown.contains("value=\"http://192.168.140.4/boot.ipxe?mac=${net0/mac}&amp;a=&lt;b&gt;\""), "escaped")
        #expect(shown.contains("name=\"classlessRoutes\" value=\"10.20.0.0/16 via 192.168.140.254\""))
    }

    @Test func theOptionsSurviveExportAndImportAndAnOlderFileImportsWithoutThem() throws {
        let site = try SiteFixture()
        let network = try site.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        #expect(site.post("/networks/\(network.id.rawValue)/dhcp", DHCPScopePageTests.form([
            "enabled": "", "domainName": "lab.example", "searchDomains": "lab.example", "classlessRoutes": "10.20.0.0/16 via 192.168.140.254",
            "mtu": "9000", "ntpServers": "192.168.140.3", "nextServer": "192.168.140.4", "biosBootFile": "undionly.kpxe", "uefiBootFile": "ipxe.efi",
            "ipxeBootFile": "http://192.168.140.4/a&b.ipxe",
        ])).status == 303)
        var original = try site.networks.definition(of: network.id)
        original.name = "Copy"
        let file = NetworkDefinitionXML.encode(original)
        #expect(file.contains("<ipxe_boot_file>http://192.168.140.4/a&amp;b.ipxe</ipxe_boot_file>"))
        let imported = try site.networks.importDefinition(try NetworkDefinitionXML.decode(Array(file.utf8)))
        var back = try site.networks.definition(of: imported.id)
        back.dhcp?.version = original.dhcp?.version ?? 0
        #expect(back == original)

        let older = file.split(separator: "\n").filter { line in
            !["domain_name", "search_domains", "classless_routes", "<mtu>", "ntp_servers", "next_server", "boot_file"].contains { line.contains($0) }
        }.joined(separator: "\n").replacingOccurrences(of: "<name>Copy</name>", with: "<name>Older</name>")
        let fromOlder = try NetworkDefinitionXML.decode(Array(older.utf8))
        #expect(fromOlder.dhcp?.boot.isEmpty == true && fromOlder.dhcp?.mtu == nil && fromOlder.dhcp?.classlessRoutes == [])
    }

    @Test func releasingALeaseExpiresItInTheStoreRecordsItAndTellsTheDataplane() throws {
        let site = try SiteFixture()
        let id = try labWithLeases(site)
        let page = site.get("/networks/\(id.rawValue)/dhcp").bodyText
        #expect(page.contains("action=\"/networks/\(id.rawValue)/dhcp/leases/release\""))
        #expect(site.post("/networks/\(id.rawValue)/dhcp/leases/release", [("address", "192.168.140.20")], withToken: false).status == 403)
        #expect(try site.store.read { try $0.leases(of: id) }.first?.expires ?? .distantPast > site.clock.now(), "no token, no change")

        let released = site.post("/networks/\(id.rawValue)/dhcp/leases/release", [("address", "192.168.140.20")])
        #expect(released.status == 303)
        #expect(site.get(released.header("Location") ?? "").bodyText.contains("The lease was released."))
        let lease = try #require(try site.store.read { try $0.leases(of: id) }.first)
        #expect(lease.expires == site.clock.now(), "kept, expired now")
        #expect(site.dataplane.changes.last == .leaseReleased(id, IPv4Address(192, 168, 140, 20)))
        #expect(try site.recorderEvents().contains { $0.kind == .leaseReleased && $0.message.contains("192.168.140.20 held by 00:03:ff:00:00:07") })
        #expect(site.post("/networks/\(id.rawValue)/dhcp/leases/release", [("address", "192.168.140.20")]).status == 404, "an expired lease is not released twice")
        #expect(site.post("/networks/\(id.rawValue)/dhcp/leases/release", [("address", "not an address")]).status == 400)
    }

    @Test func aLeaseBecomesAReservationWithItsHostName() throws {
        let site = try SiteFixture()
        let id = try labWithLeases(site, hostNames: ["guest", "bad name!"])
        #expect(site.post("/networks/\(id.rawValue)/dhcp/leases/reserve", [("address", "192.168.140.20"), ("version", "1")]).status == 303)
        #expect(site.post("/networks/\(id.rawValue)/dhcp/leases/reserve", [("address", "192.168.140.21"), ("version", "2")]).status == 303)
        let reservations = try #require(try site.store.read { try $0.dhcpSettings(of: id) }).reservations
        #expect(reservations == [
            DHCPReservation(mac: Self.guest, address: IPv4Address(192, 168, 140, 20), hostName: "guest"),
            DHCPReservation(mac: MACAddress(value: Self.guest.value + 1), address: IPv4Address(192, 168, 140, 21), hostName: ""),
        ])
        let again = site.post("/networks/\(id.rawValue)/dhcp/leases/reserve", [("address", "192.168.140.20"), ("version", "3")])
        #expect(again.status == 422)
        #expect(again.bodyText.contains("already has a reservation"))
        #expect(!site.get("/networks/\(id.rawValue)/dhcp").bodyText.contains("leases/reserve"), "reserved leases offer no second reservation")
    }

    @Test func leasesDownloadAsCSVThatASpreadsheetCannotRunAsFormulas() throws {
        let site = try SiteFixture()
        let id = try labWithLeases(site, hostNames: ["=HYPERLINK(\"http://x\")", "a,b", "-1+2", "@sum", nil])
        let response = site.get("/networks/\(id.rawValue)/dhcp/leases.csv")
        #expect(response.status == 200)
        #expect(response.header("Content-Type") == "text/csv; charset=utf-8")
        #expect(response.header("Content-Disposition")?.hasPrefix("attachment; filename=\"Lab_ east _1 leases.csv\"") == true)
        let lines = response.bodyText.components(separatedBy: "\r\n")
        #expect(lines[0] == "address,mac,host_name,vm,adapter,expires,state")
        #expect(lines[1].hasPrefix("192.168.140.20,00:03:ff:00:00:07,\"'=HYPERLINK(\"\"http://x\"\")\",,,"))
        #expect(lines[1].hasSuffix(",active"))
        #expect(lines[2].contains(",\"a,b\","))
        #expect(lines[3].contains(",'-1+2,"))
        #expect(lines[4].contains(",'@sum,"))
        #expect(lines[5].contains("00:03:ff:00:00:0b,,"))
        #expect(lines.count == 7 && lines[6].isEmpty, "CRLF after every record")
        #expect(site.get("/networks/00000000-0000-0000-0000-000000000000/dhcp/leases.csv").status == 404)
    }

    @Test func theLeaseRoutesAreInTheRouterAndNeedASession() throws {
        let site = try SiteFixture(signedIn: false)
        let routes = AdminSite.routeList(dependencies: site.dependencies, renderer: try TemplateRenderer(directory: repositoryRoot + "/Templates"),
                                         publicDirectory: repositoryRoot + "/Public")
        for (method, pattern) in [("GET", "/networks/{id}/dhcp/leases.csv"), ("POST", "/networks/{id}/dhcp/leases/release"), ("POST", "/networks/{id}/dhcp/leases/reserve")] {
            #expect(routes.contains { $0.method == method && $0.pattern == pattern }, "\(method) \(pattern)")
        }
        let network = try site.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        #expect(site.get("/networks/\(network.id.rawValue)/dhcp/leases.csv").status == 303)
    }
}
