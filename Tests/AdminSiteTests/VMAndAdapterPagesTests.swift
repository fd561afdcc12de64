import AdminSite
import Domain
import Foundation
import Packets
import Testing
import TestSupport
import WebServer

@Suite("Virtual machine and host adapter pages")
struct VMAndAdapterPagesTests {
    @Test func createVMWithItsFirstAdapterConnected() throws {
        let site = try SiteFixture()
        let network = try site.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        #expect(site.get("/vms/new").bodyText.contains("<option value=\"\(network.id.rawValue)\">Lab</option>"))
        let created = site.post("/vms", [("name", "web"), ("network", network.id.rawValue), ("notes", "")])
        #expect(created.status == 303)
        let id = try #require(SiteFixture.createdID(created))
        let page = site.get("/vms/\(id)").bodyText
        #expect(page.contains("Virtual Machine: web"))
        #expect(page.contains("<a href=\"/networks/\(network.id.rawValue)\">Lab</a>"))
        #expect(page.contains("00-03-FF-"))
        #expect(site.get("/vms").bodyText.contains("<a href=\"/vms/\(id)\">web</a>"))

        let duplicate = site.post("/vms", [("name", "WEB"), ("notes", "kept")])
        #expect(duplicate.status == 422)
        #expect(duplicate.bodyText.contains("A virtual machine named “WEB” already exists."))
        #expect(duplicate.bodyText.contains(">kept</textarea>"))
    }

    @Test func nicFormMovesAndSetsStaticAddresses() throws {
        let site = try SiteFixture()
        let red = try site.networks.create(NetworkDraft(name: "Red", adapter: nil, notes: ""))
        let blue = try site.networks.create(NetworkDraft(name: "Blue", adapter: nil, notes: ""))
        let vm = try site.vms.create(name: "web", notes: "", connectingTo: red.id)
        let nic = try #require(try site.store.read { try $0.nics(of: vm.id) }.first)
        let form = site.get("/vms/\(vm.id.rawValue)/nics").bodyText
        #expect(form.contains("<option value=\"\(red.id.rawValue)\" selected>Red</option>"))

        let saved = site.post("/vms/\(vm.id.rawValue)/nics", [
            ("action", "save"), ("version", "1"), ("nic-1-id", nic.id.rawValue),
            ("nic-1-network", blue.id.rawValue), ("nic-1-mac-mode", "static"), ("nic-1-mac", "52-54-00-12-34-56"), ("nic-1-backend", "tap"),
        ])
        #expect(saved.status == 303)
        let after = try #require(try site.store.read { try $0.nic(nic.id) })
        #expect(after.networkID == blue.id)
        #expect(after.mac == MACAddress(parsing: "52:54:00:12:34:56"))
        #expect(after.assignment == .static)
        #expect(after.backend == .tap)
        let events = site.get("/events").bodyText
        #expect(events.contains("moved from “Red” to “Blue”"))
        #expect(events.contains("now uses the static address 52:54:00:12:34:56"))
    }

    /// Off by default; the checkbox turns it on and off, the form shows it, the event log says so.
    @Test func macAddressSpoofingIsAllowedPerAdapterFromTheForm() throws {
        let site = try SiteFixture()
        let lab = try site.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        let vm = try site.vms.create(name: "nested", notes: "", connectingTo: lab.id)
        let nic = try #require(try site.store.read { try $0.nics(of: vm.id) }.first)
        #expect(nic.allowsMACSpoofing == false)
        let checkbox = "name=\"nic-1-mac-spoofing\" value=\"1\""
        #expect(site.get("/vms/\(vm.id.rawValue)/nics").bodyText.contains("\(checkbox)>"))
        let fields: [(String, String)] = [("action", "save"), ("nic-1-id", nic.id.rawValue), ("nic-1-network", lab.id.rawValue),
                                          ("nic-1-mac-mode", "dynamic"), ("nic-1-mac", ""), ("nic-1-backend", "socket")]
        #expect(site.post("/vms/\(vm.id.rawValue)/nics", fields + [("version", "1"), ("nic-1-mac-spoofing", "1")]).status == 303)
        #expect(try site.store.read { try $0.nic(nic.id) }?.allowsMACSpoofing == true)
        #expect(site.get("/vms/\(vm.id.rawValue)/nics").bodyText.contains("\(checkbox) checked>"))
        #expect(site.get("/events").bodyText.contains("may now send from other MAC addresses"))
        // An unticked box is not sent at all: saving without it turns spoofing off again.
        #expect(site.post("/vms/\(vm.id.rawValue)/nics", fields + [("version", "2")]).status == 303)
        #expect(try site.store.read { try $0.nic(nic.id) }?.allowsMACSpoofing == false)
    }

    @Test func badMACIsShownOnItsAdapterWithTheInputKept() throws {
        let site = try SiteFixture()
        let vm = try site.vms.create(name: "web", notes: "")
        let nic = try #require(try site.store.read { try $0.nics(of: vm.id) }.first)
        let page = site.post("/vms/\(vm.id.rawValue)/nics", [
            ("action", "save"), ("version", "1"), ("nic-1-id", nic.id.rawValue),
            ("nic-1-network", ""), ("nic-1-mac-mode", "static"), ("nic-1-mac", "01-00-5E-00-00-01"),
        ])
        #expect(page.status == 422)
        #expect(page.bodyText.contains("is a multicast or broadcast address"))
        #expect(page.bodyText.contains("value=\"01-00-5E-00-00-01\""))
        #expect(page.bodyText.contains("value=\"static\" checked"))
        #expect(try site.store.read { try $0.nic(nic.id) } == nic)
    }

    @Test func staleNICFormIs409AndShowsCurrentState() throws {
        let site = try SiteFixture()
        let network = try site.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        let vm = try site.vms.create(name: "web", notes: "")
        let nic = try #require(try site.store.read { try $0.nics(of: vm.id) }.first)
        try site.vms.configureNICs(of: vm.id, version: 1, [NICSetting(nicID: nic.id, networkID: network.id, assignment: .dynamic)])
        let stale = site.post("/vms/\(vm.id.rawValue)/nics", [
            ("action", "save"), ("version", "1"), ("nic-1-id", nic.id.rawValue), ("nic-1-network", ""), ("nic-1-mac-mode", "dynamic"),
        ])
        #expect(stale.status == 409)
        #expect(stale.bodyText.contains("changed by someone else"))
        #expect(stale.bodyText.contains("<option value=\"\(network.id.rawValue)\" selected>Lab</option>"))
        #expect(try site.store.read { try $0.nic(nic.id) }?.networkID == network.id)
    }

    @Test func addUpToFourThenTheButtonIsDisabledWithTheReason() throws {
        let site = try SiteFixture()
        let vm = try site.vms.create(name: "web", notes: "")
        for version in 1...3 {
            let added = site.post("/vms/\(vm.id.rawValue)/nics", [("action", "add"), ("version", "\(version)")])
            #expect(added.status == 303)
        }
        let page = site.get("/vms/\(vm.id.rawValue)/nics").bodyText
        #expect(page.contains("Virtual network adapter 4"))
        #expect(page.contains("disabled>Add network adapter</button>"))
        #expect(page.contains("at most 4 network adapters"))
        let refused = site.post("/vms/\(vm.id.rawValue)/nics", [("action", "add"), ("version", "4")])
        #expect(refused.status == 422)
        #expect(try site.store.read { try $0.nics(of: vm.id) }.count == 4)
    }

    @Test func removingANICGoesThroughConfirmation() throws {
        let site = try SiteFixture()
        let vm = try site.vms.create(name: "web", notes: "")
        let nic = try #require(try site.store.read { try $0.nics(of: vm.id) }.first)
        let confirm = site.get("/vms/\(vm.id.rawValue)/nics?remove=1")
        #expect(confirm.bodyText.contains("Remove <strong>Virtual network adapter 1</strong>"))
        #expect(try site.store.read { try $0.nics(of: vm.id) }.count == 1)
        let removed = site.post("/vms/\(vm.id.rawValue)/nics", [("action", "remove"), ("version", "1"), ("nic", nic.id.rawValue)])
        #expect(removed.status == 303)
        #expect(try site.store.read { try $0.nics(of: vm.id) }.isEmpty)
    }

    @Test func removeVMConfirmsThenRemoves() throws {
        let site = try SiteFixture()
        let vm = try site.vms.create(name: "web", notes: "")
        #expect(site.get("/vms/\(vm.id.rawValue)/remove").bodyText.contains("Remove <strong>web</strong>"))
        #expect(site.post("/vms/\(vm.id.rawValue)/remove", []).status == 303)
        #expect(site.get("/vms/\(vm.id.rawValue)").status == 404)
        #expect(try site.store.read { try $0.summary() } == InventorySummary())
    }

    @Test func vmSettingsRenameAndStaleCheck() throws {
        let site = try SiteFixture()
        let vm = try site.vms.create(name: "web", notes: "")
        #expect(site.post("/vms/\(vm.id.rawValue)/settings", [("version", "1"), ("name", "web-1"), ("notes", "n")]).status == 303)
        #expect(site.post("/vms/\(vm.id.rawValue)/settings", [("version", "1"), ("name", "web-2")]).status == 409)
        #expect(try site.store.read { try $0.vm(vm.id) }?.name == "web-1")
    }

    @Test func unbindingAnAdapterInUseIsRefusedOnThePage() throws {
        let site = try SiteFixture()
        #expect(site.post("/adapters", [("bind", "eth0"), ("bind", "eth1")]).status == 303)
        try site.networks.create(NetworkDraft(name: "LAN", adapter: "eth0", notes: ""))
        let page = site.post("/adapters", [("bind", "eth1")])
        #expect(page.status == 422)
        #expect(page.bodyText.contains("Virtual Machine Network Services stays on for eth0: network “LAN” uses it."))
        // The refused box shows the real state, and nothing changed.
        #expect(page.bodyText.contains("name=\"bind\" value=\"eth0\" checked"), "eth0 is still on, and the box says so")
        #expect(try site.bindings.adapters().filter(\.isBound).map(\.name) == ["eth0", "eth1"])
        let saved = site.post("/adapters", [("bind", "eth0")])
        #expect(saved.status == 303)
        #expect(site.get(try #require(saved.header("Location"))).bodyText.contains("Virtual Machine Network Services turned off for eth1."))
    }

    @Test func namesAndNotesWithMarkupAreEscapedOnEveryPage() throws {
        let site = try SiteFixture()
        let evil = "<script>alert(\"x\")</script>'"
        // Names may not contain < > " / (Virtual Server's rule); the refused input is echoed escaped.
        let refused = site.post("/networks", [("name", evil), ("notes", evil)])
        #expect(refused.status == 422)
        #expect(!refused.bodyText.contains("<script>"))
        #expect(refused.bodyText.contains("value=\"&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;\""))
        let network = try site.networks.create(NetworkDraft(name: "net & 'more'", adapter: nil, notes: evil))
        let vm = try site.vms.create(name: "vm & 'q'", notes: evil, connectingTo: network.id)
        try site.recorder.record(EventKind(rawValue: "test.xss"), .network(network), evil)
        for path in ["/", "/events", "/networks", "/networks/\(network.id.rawValue)", "/networks/\(network.id.rawValue)/settings",
                     "/networks/\(network.id.rawValue)/remove", "/vms", "/vms/\(vm.id.rawValue)", "/vms/\(vm.id.rawValue)/nics",
                     "/vms/\(vm.id.rawValue)/settings", "/vms/\(vm.id.rawValue)/remove", "/vms/new", "/networks/new", "/adapters"] {
            let html = site.get(path).bodyText
            #expect(!html.contains("<script>"), "\(path)")
            #expect(!html.contains("'q'") && !html.contains("'more'"), "\(path)")
        }
        #expect(site.get("/networks/\(network.id.rawValue)").bodyText.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;"))
        #expect(site.get("/vms/\(vm.id.rawValue)").bodyText.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;"))
        #expect(site.get("/vms").bodyText.contains("vm &amp; &#39;q&#39;"))
        #expect(site.get("/networks").bodyText.contains("net &amp; &#39;more&#39;"))
    }

    /// Derived from the router, so a new form is covered the day it is added.
    @Test func everyPostOfTheRouterRefusesAMissingTokenAndChangesNothing() throws {
        let site = try SiteFixture()
        let network = try site.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        let vm = try site.vms.create(name: "web", notes: "", connectingTo: network.id)
        let routes = AdminSite.routeList(dependencies: site.dependencies, renderer: try TemplateRenderer(directory: repositoryRoot + "/Templates"),
                                         publicDirectory: repositoryRoot + "/Public")
        // Removals and sign-out last, so the positive pass reaches every form with its objects there.
        let posts = routes.filter { $0.method == "POST" }.map(\.pattern)
            .sorted { (($0.hasSuffix("/remove") || $0 == "/logout") ? 1 : 0, $0) < (($1.hasSuffix("/remove") || $1 == "/logout") ? 1 : 0, $1) }
        #expect(posts.count >= 12, "the walk covers every form: \(posts)")
        for required in ["/login", "/logout", "/account/password", "/networks/{id}/dhcp", "/vms/{id}/nics"] {
            #expect(posts.contains(required), "\(required)")
        }
        func path(_ pattern: String) -> String {
            pattern.replacingOccurrences(of: "{id}", with: pattern.hasPrefix("/vms/") ? vm.id.rawValue : network.id.rawValue)
        }
        func fields(_ pattern: String) -> [(String, String)] {
            // Sign-in with the right account, so that only the token decides (a wrong password is 403 too).
            [("name", pattern == "/login" ? SiteFixture.administrator : "x"), ("password", SiteFixture.password), ("action", "add"), ("version", "1")]
        }
        let session = site.cookies["vnetd_session"]
        for pattern in posts {
            let before = site.database.generation
            let response = site.post(path(pattern), fields(pattern), withToken: false)
            #expect(response.status == 403, "POST \(pattern)")
            #expect(site.database.generation == before, "POST \(pattern) changed nothing")
            #expect(site.cookies["vnetd_session"] == session, "POST \(pattern) left the session alone")
        }
        #expect(try site.store.read { try $0.summary() } == InventorySummary(networks: 1, virtualMachines: 1, nics: 1, connectedNICs: 1))
        for pattern in posts {
            #expect(site.post(path(pattern), fields(pattern)).status != 403, "POST \(pattern) with its token gets past the check")
        }
    }
}
