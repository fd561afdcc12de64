import Domain
import Foundation
import Packets
import Testing
import WebServer

@Suite("DHCP Server page")
struct DHCPPageTests {
    func form(_ overrides: [String: String] = [:]) -> [(String, String)] {
        var fields: [String: String] = [
            "action": "save", "version": "0", "enabled": "on", "network": "192.168.140.0", "mask": "255.255.255.0",
            "rangeStart": "192.168.140.16", "rangeEnd": "192.168.140.254", "server": "192.168.140.1", "gateway": "",
            "dnsServers": "192.168.140.2, 192.168.140.3", "winsServers": "", "leaseTime": "3600", "renewalTime": "1800", "rebindingTime": "3150",
        ]
        for (key, value) in overrides { fields[key] = value }
        return fields.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// Issue 13 item 8: a DHCP event says what changed; a first save with the server off does not
    /// claim it was turned off.
    @Test func dhcpEventsSayWhatChangedAndAFirstSaveIsNotATurnOff() throws {
        let site = try SiteFixture()
        let network = try site.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        var draft = DHCPDraft(try site.dhcp.settings(of: network.id))
        draft.isEnabled = false
        draft.leaseTime = "12 hours"
        draft.renewalTime = "6 hours"
        draft.rebindingTime = "10 hours"
        let first = try site.dhcp.update(network.id, version: 0, draft)
        draft.rangeEnd = IPv4Address(value: first.rangeStart.value + 50).description
        draft.domainName = "lab.example"
        _ = try site.dhcp.update(network.id, version: first.version, draft)
        let messages = try site.dependencies.eventLog.page(offset: 0, limit: 10).events.filter { $0.kind == .dhcpChanged }.map(\.message)
        #expect(messages.count == 2)
        #expect(!messages.contains { $0.contains("turned off") }, "\(messages)")
        #expect(messages.last?.contains("lease time 1 day → 12 hours") == true, "\(messages)")
        #expect(messages.first?.contains("range \(first.rangeStart)–\(first.rangeEnd) → \(first.rangeStart)–\(IPv4Address(value: first.rangeStart.value + 50))") == true, "\(messages)")
        #expect(messages.first?.contains("domain name none → lab.example") == true, "\(messages)")
    }

    /// The counts the README promises on the page: pool use and what went wrong, each named.
    @Test func thePageShowsPoolUseAndTheServersProblemCounts() throws {
        let site = try SiteFixture()
        let network = try site.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        var runtime = DHCPRuntimeStatus()
        runtime.addressesInUse = 3
        runtime.poolSize = 239
        runtime.conflicts = 2
        runtime.foreignHardware = 5
        site.status.set(NetworkRuntimeStatus(isRunning: true, detail: "", dhcp: runtime), for: network.id)
        let page = site.get("/networks/\(network.id.rawValue)/dhcp").bodyText
        #expect(page.contains("3 of 239 addresses of the pool in use"))
        #expect(page.contains("2 addresses found in use by the probe"))
        #expect(page.contains("5 requests a VM made for another adapter"))
        #expect(!page.contains("left for their client to repeat"), "a count of zero is not listed")
    }

    @Test func aNewNetworkProposesAFreeSlash24AndSavingTurnsTheServerOn() throws {
        let site = try SiteFixture()
        let network = try site.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        let page = site.get("/networks/\(network.id.rawValue)/dhcp")
        #expect(page.status == 200)
        #expect(page.bodyText.contains("value=\"192.168.131.0\""))
        #expect(page.bodyText.contains("value=\"192.168.131.16\""))
        #expect(!page.bodyText.contains("name=\"enabled\" value=\"on\" checked"))

        let saved = site.post("/networks/\(network.id.rawValue)/dhcp", form())
        #expect(saved.status == 303)
        let settings = try #require(try site.store.read { try $0.dhcpSettings(of: network.id) })
        #expect(settings.isEnabled)
        #expect(settings.dnsServers == [IPv4Address(192, 168, 140, 2), IPv4Address(192, 168, 140, 3)])
        #expect(site.get("/networks").bodyText.contains("<td data-label=\"DHCP scope\">192.168.140.16–192.168.140.254</td>"))
        #expect(site.get("/networks/\(network.id.rawValue)").bodyText.contains("On: 192.168.140.16–192.168.140.254"))
        #expect(site.get("/events").bodyText.contains("DHCP server of “Lab” turned on"))

        // A second network's proposal avoids the first network's.
        let other = try site.networks.create(NetworkDraft(name: "Other", adapter: nil, notes: ""))
        #expect(site.get("/networks/\(other.id.rawValue)/dhcp").bodyText.contains("value=\"192.168.131.0\""))
        _ = site.post("/networks/\(other.id.rawValue)/dhcp", form(["network": "192.168.131.0", "rangeStart": "192.168.131.16", "rangeEnd": "192.168.131.254", "server": "192.168.131.1", "dnsServers": ""]))
        let third = try site.networks.create(NetworkDraft(name: "Third", adapter: nil, notes: ""))
        #expect(site.get("/networks/\(third.id.rawValue)/dhcp").bodyText.contains("value=\"192.168.132.0\""))
    }

    @Test(arguments: [
        (["mask": "255.0.255.0"], "is not a network mask"),
        (["network": "192.168.140.5"], "has host bits set"),
        (["rangeStart": "192.168.140.15"], "The first 15 host addresses are reserved"),
        (["rangeStart": "10.0.0.20"], "must be a host address inside"),
        (["rangeEnd": "192.168.140.15", "rangeStart": "192.168.140.20"], "must not be lower than the starting address"),
        (["server": "192.168.140.30"], "must lie between the first host address"),
        (["server": "192.168.140.0"], "must be a host address inside"),
        (["renewalTime": "20"], "at least 30 seconds"),
        (["rebindingTime": "40"], "at least 45 seconds"),
        (["leaseTime": "59"], "at least 60 seconds"),
        (["renewalTime": "3200"], "renewal time must be shorter than the rebinding time"),
        (["dnsServers": "8.8.8.8, nine"], "“nine” in DNS servers is not an IPv4 address"),
        (["gateway": "10.1.1.1"], "default gateway must be a host address inside"),
        (["leaseTime": "soon"], "as a duration like “1 day”"),
    ])
    func eachRuleIsAClearMessageAndNothingChanges(overrides: [String: String], message: String) throws {
        let site = try SiteFixture()
        let network = try site.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        let page = site.post("/networks/\(network.id.rawValue)/dhcp", form(overrides))
        #expect(page.status == 422)
        #expect(page.bodyText.contains(message))
        for (key, value) in overrides { #expect(page.bodyText.contains("name=\"\(key)\" value=\"\(value)\"")) }
        #expect(try site.store.read { try $0.dhcpSettings(of: network.id) } == nil)
    }

    @Test func reservationsAreAddedCheckedAndRemovedAndStaleSavesRefused() throws {
        let site = try SiteFixture()
        let network = try site.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        let path = "/networks/\(network.id.rawValue)/dhcp"
        #expect(site.post(path, form()).status == 303)
        #expect(site.post(path, [("action", "reserve"), ("version", "1"), ("reservationMAC", "00-03-FF-00-00-09"), ("reservationAddress", "192.168.140.50"), ("reservationHostName", "db")]).status == 303)
        #expect(site.get(path).bodyText.contains("<code>00-03-FF-00-00-09</code></td><td>192.168.140.50</td><td>db</td>"))
        let refused = site.post(path, [("action", "reserve"), ("version", "2"), ("reservationMAC", "01-00-5E-00-00-01"), ("reservationAddress", "192.168.140.1"), ("reservationHostName", "x y")])
        #expect(refused.status == 422)
        #expect(refused.bodyText.contains("Enter the unicast MAC address"))
        #expect(refused.bodyText.contains("other than the server"))
        #expect(refused.bodyText.contains("at most 63 letters, digits and hyphens"))
        #expect(refused.bodyText.contains("value=\"01-00-5E-00-00-01\""))
        let duplicate = site.post(path, [("action", "reserve"), ("version", "2"), ("reservationMAC", "00-03-FF-00-00-0A"), ("reservationAddress", "192.168.140.50")])
        #expect(duplicate.bodyText.contains("is already reserved"))
        let stale = site.post(path, form(["version": "1", "leaseTime": "7200", "rebindingTime": "6000", "renewalTime": "3000"]))
        #expect(stale.status == 409)
        #expect(stale.bodyText.contains("changed by someone else"))
        #expect(site.post(path, [("action", "unreserve"), ("version", "2"), ("mac", "00:03:ff:00:00:09")]).status == 303)
        #expect(try site.store.read { try $0.dhcpSettings(of: network.id) }?.reservations.isEmpty == true)
    }

    @Test func unknownNetworkIs404AndPostsNeedTheToken() throws {
        let site = try SiteFixture()
        #expect(site.get("/networks/00000000-0000-0000-0000-000000000000/dhcp").status == 404)
        let network = try site.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        #expect(site.post("/networks/\(network.id.rawValue)/dhcp", form(), withToken: false).status == 403)
        #expect(try site.store.read { try $0.dhcpSettings(of: network.id) } == nil)
    }
}
