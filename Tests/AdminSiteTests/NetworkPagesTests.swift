import Domain
import Foundation
import Testing
import WebServer

@Suite("Virtual network pages")
struct NetworkPagesTests {
    @Test func createShowsTheNetworkEverywhereAndRecordsIt() throws {
        let site = try SiteFixture()
        let form = site.get("/networks/new")
        #expect(form.status == 200)
        #expect(form.bodyText.contains("Virtual network name"))
        #expect(form.bodyText.contains("<option value=\"\" selected>None (Guest Only)</option>"))

        let created = site.post("/networks", [("name", "Lab"), ("adapter", ""), ("notes", "test bench")])
        #expect(created.status == 303)
        let id = try #require(SiteFixture.createdID(created))
        #expect(created.header("Location")?.hasPrefix("/networks/\(id)?done=") == true, "the page tells what was created")

        let properties = site.get("/networks/\(id)").bodyText
        #expect(properties.contains("Virtual Network Properties: Lab"))
        #expect(properties.contains("None (Guest Only)"))
        #expect(properties.contains("test bench"))
        #expect(site.get("/networks").bodyText.contains("<a href=\"/networks/\(id)\">Lab</a>"))
        #expect(site.get("/events").bodyText.contains("Created a guest-only network “Lab”."))
        #expect(site.get("/").bodyText.contains("<span class=\"figure\">1</span><span class=\"label\">Virtual networks</span>"))
    }

    @Test func invalidCreateIs422WithTheMessageAndTheInputKept() throws {
        let site = try SiteFixture()
        let page = site.post("/networks", [("name", "lab*1"), ("adapter", ""), ("notes", "keep these notes")])
        #expect(page.status == 422)
        let html = page.bodyText
        #expect(html.contains("A name cannot contain any of"))
        #expect(html.contains("value=\"lab*1\""))
        #expect(html.contains(">keep these notes</textarea>"))
        #expect(html.contains("aria-invalid=\"true\""))
        #expect(try site.store.read { try $0.networkCount() } == 0)

        _ = site.post("/networks", [("name", "Lab")])
        let duplicate = site.post("/networks", [("name", "LAB")])
        #expect(duplicate.status == 422)
        #expect(duplicate.bodyText.contains("A network named “LAB” already exists."))
        let empty = site.post("/networks", [("name", "")])
        #expect(empty.status == 422)
        #expect(empty.bodyText.contains("Enter a name."))
    }

    @Test func externalNetworkNeedsABoundAdapterAndShowsItsState() throws {
        let site = try SiteFixture()
        let refused = site.post("/networks", [("name", "LAN"), ("adapter", "eth0")])
        #expect(refused.status == 422)
        #expect(refused.bodyText.contains("Virtual Machine Network Services is off for “eth0”"))

        #expect(site.post("/adapters", [("bind", "eth0")]).status == 303)
        let form = site.get("/networks/new").bodyText
        #expect(form.contains("<option value=\"eth0\">eth0 (up, link detected, 1 Gbit/s)</option>"))
        let created = site.post("/networks", [("name", "LAN"), ("adapter", "eth0")])
        #expect(created.status == 303)
        let id = try #require(SiteFixture.createdID(created))
        #expect(site.get("/networks/\(id)").bodyText.contains("up, link detected"))

        site.adapters.unplug("eth0")
        #expect(site.get("/networks/\(id)").bodyText.contains("adapter not found"))
        #expect(site.get("/networks").bodyText.contains("adapter not found"))
        #expect(site.get("/adapters").bodyText.contains("adapter not found"))
    }

    @Test func settingsRenameKeepsTheAddressAndStaleSavesAreRefused() throws {
        let site = try SiteFixture()
        let id = try #require(SiteFixture.createdID(site.post("/networks", [("name", "Lab")])))
        let settings = site.get("/networks/\(id)/settings")
        #expect(settings.status == 200)
        #expect(settings.bodyText.contains("name=\"version\" value=\"1\""))

        let saved = site.post("/networks/\(id)/settings", [("version", "1"), ("name", "Staging"), ("notes", "renamed")])
        #expect(saved.status == 303)
        #expect(saved.header("Location")?.hasPrefix("/networks/\(id)?done=") == true)
        #expect(site.get("/networks/\(id)").bodyText.contains("Staging"))

        let stale = site.post("/networks/\(id)/settings", [("version", "1"), ("name", "Other"), ("notes", "")])
        #expect(stale.status == 409)
        #expect(stale.bodyText.contains("changed by someone else since you opened the form"))
        #expect(stale.bodyText.contains("value=\"Staging\""))
        #expect(stale.bodyText.contains("name=\"version\" value=\"2\""))
        #expect(try site.store.read { try $0.network(NetworkID(rawValue: id)) }?.name == "Staging")

        let invalid = site.post("/networks/\(id)/settings", [("version", "2"), ("name", "a|b"), ("notes", "typed")])
        #expect(invalid.status == 422)
        #expect(invalid.bodyText.contains("value=\"a|b\""))
        #expect(invalid.bodyText.contains(">typed</textarea>"))
    }

    @Test func settingsConnectAndDisconnectNICs() throws {
        let site = try SiteFixture()
        let vm = try site.vms.create(name: "web", notes: "")
        let nic = try #require(try site.store.read { try $0.nics(of: vm.id) }.first)
        let id = try #require(SiteFixture.createdID(site.post("/networks", [("name", "Lab")])))
        let form = site.get("/networks/\(id)/settings").bodyText
        #expect(form.contains("name=\"connect\" value=\"\(nic.id.rawValue)\""))

        #expect(site.post("/networks/\(id)/settings", [("version", "1"), ("name", "Lab"), ("connect", nic.id.rawValue)]).status == 303)
        #expect(site.get("/networks/\(id)").bodyText.contains("<a href=\"/vms/\(vm.id.rawValue)\">web</a>"))
        #expect(site.post("/networks/\(id)/settings", [("version", "2"), ("name", "Lab"), ("disconnect", nic.id.rawValue)]).status == 303)
        #expect(try site.store.read { try $0.nic(nic.id) }?.networkID == nil)
    }

    @Test func removeConfirmsListingNICsThenDisconnectsThem() throws {
        let site = try SiteFixture()
        let id = try #require(SiteFixture.createdID(site.post("/networks", [("name", "Lab")])))
        let vm = try site.vms.create(name: "web", notes: "", connectingTo: NetworkID(rawValue: id))
        let confirm = site.get("/networks/\(id)/remove")
        #expect(confirm.status == 200)
        #expect(confirm.bodyText.contains("will be disconnected first"))
        #expect(confirm.bodyText.contains("web"))
        #expect(try site.store.read { try $0.networkCount() } == 1)

        #expect(site.post("/networks/\(id)/remove", [], withToken: false).status == 403)
        #expect(try site.store.read { try $0.networkCount() } == 1)

        let removed = site.post("/networks/\(id)/remove", [])
        #expect(removed.status == 303)
        #expect(removed.header("Location")?.hasPrefix("/networks?done=") == true)
        #expect(try site.store.read { try $0.networkCount() } == 0)
        #expect(try site.store.read { try $0.nics(of: vm.id) }.first?.networkID == nil)
        #expect(site.get("/networks/\(id)").status == 404)
        #expect(site.post("/networks/\(id)/remove", []).status == 404)
    }

    @Test func exportThenImportRoundTrips() throws {
        let site = try SiteFixture()
        let id = try #require(SiteFixture.createdID(site.post("/networks", [("name", "Lab & Co's"), ("notes", "line 1\n<line \"2\">")])))
        let export = site.get("/networks/\(id)/export")
        #expect(export.status == 200)
        #expect(export.header("Content-Type") == "application/xml; charset=utf-8")
        #expect(export.header("Content-Disposition")?.hasPrefix("attachment;") == true)
        let xml = export.bodyText
        #expect(xml.contains("<name>Lab &amp; Co's</name>"))
        #expect(xml.contains("<notes>line 1\n&lt;line &quot;2&quot;&gt;</notes>"))

        let duplicate = site.postFile("/networks/import", field: "file", filename: "lab.xml", content: export.body)
        #expect(duplicate.status == 422)
        #expect(duplicate.bodyText.contains("The name in the file cannot be used: A network named “Lab &amp; Co&#39;s” already exists."))

        let copy = site.postFile("/networks/import", field: "file", filename: "lab.xml", content: export.body, fields: [("name", "Lab copy")])
        #expect(copy.status == 303)
        let copyID = try #require(SiteFixture.createdID(copy))
        let imported = try #require(try site.store.read { try $0.network(NetworkID(rawValue: copyID)) })
        #expect(imported.name == "Lab copy")
        #expect(imported.notes == "line 1\n<line \"2\">")
        #expect(imported.kind == .guestOnly)
        #expect(site.get("/events").bodyText.contains("network.imported"))
    }

    /// Browsers send a textarea's line breaks as CRLF; a non-ASCII name must survive unchanged.
    @Test func exportThenImportIntoAnotherSiteKeepsEverything() throws {
        let site = try SiteFixture()
        let name = "Réseau 网络 Ω"
        let id = try #require(SiteFixture.createdID(site.post("/networks", [("name", name), ("notes", "a\r\nb")])))
        let original = try #require(try site.store.read { try $0.network(NetworkID(rawValue: id)) })
        #expect(original.name == name)
        let export = site.get("/networks/\(id)/export")
        #expect(export.status == 200)

        let other = try SiteFixture()
        let imported = other.postFile("/networks/import", field: "file", filename: "lab.xml", content: export.body)
        #expect(imported.status == 303)
        let copyID = try #require(SiteFixture.createdID(imported))
        var copy = try #require(try other.store.read { try $0.network(NetworkID(rawValue: copyID)) })
        copy.id = original.id
        copy.version = original.version
        copy.createdAt = original.createdAt
        copy.changedAt = original.changedAt
        #expect(copy.name == original.name)
        #expect(copy == original)
        #expect(other.get("/networks/\(copyID)/export").body.count > 0)
    }

    @Test func aLatin1ByteInAWellFormedFileIsRefusedAsNotUTF8() throws {
        let site = try SiteFixture()
        let content = Array("<virtual_network format=\"1\"><name>caf".utf8) + [0xE9] + Array("</name></virtual_network>".utf8)
        let page = site.postFile("/networks/import", field: "file", filename: "x.xml", content: content)
        #expect(page.status == 422)
        #expect(page.bodyText.contains("The file is not UTF-8 text."))
        #expect(try site.store.read { try $0.networkCount() } == 0)
        let fixed = Array("<virtual_network format=\"1\"><name>caf".utf8) + [0xC3, 0xA9] + Array("</name></virtual_network>".utf8)
        #expect(site.postFile("/networks/import", field: "file", filename: "x.xml", content: fixed).status == 303, "the same file in UTF-8 is taken")
    }

    @Test func dhcpSettingsAndReservationsTravelWithTheDefinition() throws {
        let site = try SiteFixture()
        let lab = try site.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        var draft = DHCPDraft(try site.dhcp.settings(of: lab.id))
        draft.isEnabled = true
        draft.dnsServers = "192.168.131.2"
        try site.dhcp.update(lab.id, version: 0, draft)
        try site.dhcp.addReservation(to: lab.id, version: 1, mac: "00-03-FF-00-00-09", address: "192.168.131.50", hostName: "db")
        let export = site.get("/networks/\(lab.id.rawValue)/export")
        #expect(export.bodyText.contains("<dhcp_server enabled=\"true\">"))
        #expect(export.bodyText.contains("<reservation mac=\"00:03:ff:00:00:09\" address=\"192.168.131.50\" host_name=\"db\"/>"))
        // A copy whose server would hand out the same addresses as Lab's is refused while Lab's is on.
        let clash = site.postFile("/networks/import", field: "file", filename: "lab.xml", content: export.body, fields: [("name", "Lab copy")])
        #expect(clash.status == 422)
        #expect(clash.bodyText.contains("overlaps the DHCP scope of “Lab”"))
        var off = DHCPDraft(try site.dhcp.settings(of: lab.id))
        off.isEnabled = false
        try site.dhcp.update(lab.id, version: 2, off)
        let copy = site.postFile("/networks/import", field: "file", filename: "lab.xml", content: export.body, fields: [("name", "Lab copy")])
        #expect(copy.status == 303)
        let id = NetworkID(rawValue: try #require(SiteFixture.createdID(copy)))
        let imported = try #require(try site.store.read { try $0.dhcpSettings(of: id) })
        var original = try site.dhcp.settings(of: lab.id)
        original.version = imported.version
        original.isEnabled = true
        #expect(imported == original)

        let broken = String(decoding: export.body, as: UTF8.self).replacingOccurrences(of: "<lease_time>86400</lease_time>", with: "<lease_time>10</lease_time>")
        let refused = site.postFile("/networks/import", field: "file", filename: "lab.xml", content: Array(broken.utf8), fields: [("name", "Lab three")])
        #expect(refused.status == 422)
        #expect(refused.bodyText.contains("DHCP settings in the file: The IP address lease time must be at least 60 seconds."))
    }

    @Test(arguments: [
        ("", "Choose a network definition file"),
        ("not xml at all", "not well-formed XML"),
        ("<other><name>x</name></other>", "root element is &lt;other&gt;"),
        ("<virtual_network format=\"1\"><notes>n</notes></virtual_network>", "has no &lt;name&gt;"),
        // No DTD, so no entity, external or expanding, is ever read.
        ("<?xml version=\"1.0\"?><!DOCTYPE v [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><virtual_network><name>&x;</name></virtual_network>", "contains a DOCTYPE"),
        ("<virtual_network format=\"1\"><name>caf\u{E9}</name>", "not well-formed XML (line 1)"),
        ("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><virtual_network><name>x</name></virtual_network>", "declares the encoding iso-8859-1"),
    ])
    func badDefinitionFilesAreRefusedClearly(content: String, message: String) throws {
        let site = try SiteFixture()
        let page = site.postFile("/networks/import", field: "file", filename: "x.xml", content: Array(content.utf8))
        #expect(page.status == 422)
        #expect(page.bodyText.contains(message))
        #expect(!page.bodyText.contains("root:"))
        #expect(try site.store.read { try $0.networkCount() } == 0)
    }

    @Test func unknownOrMalformedIdsAre404() throws {
        let site = try SiteFixture()
        for path in ["/networks/00000000-0000-0000-0000-000000000000", "/networks/../etc", "/networks/%3Cscript%3E",
                     "/networks/abc/settings", "/networks/abc/remove", "/networks/abc/export",
                     "/vms/00000000-0000-0000-0000-000000000000", "/vms/xyz/nics", "/vms/xyz/remove", "/vms/xyz/settings"] {
            #expect(site.get(path).status == 404, "\(path)")
        }
        #expect(site.post("/networks/abc/settings", [("name", "x")]).status == 404)
    }

    @Test func listPaginates() throws {
        let site = try SiteFixture()
        for index in 0..<105 {
            try site.networks.create(NetworkDraft(name: String(format: "net %03d", index), adapter: nil, notes: ""))
        }
        let first = site.get("/networks").bodyText
        #expect(first.contains("net 000") && first.contains("net 099") && !first.contains("net 100"))
        #expect(first.contains("Page 1 of 2"))
        let second = site.get("/networks?page=2").bodyText
        #expect(second.contains("net 104") && !second.contains("net 099"))
    }
}
