import AdminSite
import Domain
import Foundation
import Testing
import TestSupport
import WebServer

/// Issue 13, items 1–4: no action throws away what was typed, and every notice says what happened.
@Suite("Never lose work, never claim what did not happen")
struct NoLostWorkTests {
    /// Follows a 303 as a browser would.
    func follow(_ site: SiteFixture, _ response: Response) -> String {
        guard response.status == 303, let location = response.header("Location") else { return "" }
        return site.get(location).bodyText
    }

    @Test func addingAnAdapterSavesTheEditsPendingOnThePageFirst() throws {
        let site = try SiteFixture()
        let red = try site.networks.create(NetworkDraft(name: "Red", adapter: nil, notes: ""))
        let vm = try site.vms.create(name: "web", notes: "")
        let nic = try #require(try site.store.read { try $0.nics(of: vm.id) }.first)
        let form = site.get("/vms/\(vm.id.rawValue)/nics").bodyText
        // One form: the add button submits the adapters' fields with it.
        #expect(form.contains("<button type=\"submit\" name=\"action\" value=\"add\""))
        let added = site.post("/vms/\(vm.id.rawValue)/nics", [
            ("action", "add"), ("version", "1"), ("nic-1-id", nic.id.rawValue),
            ("nic-1-network", red.id.rawValue), ("nic-1-mac-mode", "dynamic"), ("nic-1-backend", "socket"),
        ])
        #expect(added.status == 303)
        #expect(try site.store.read { try $0.nic(nic.id) }?.networkID == red.id, "the pending edit was saved")
        #expect(try site.store.read { try $0.nics(of: vm.id) }.count == 2)
        let page = follow(site, added)
        #expect(page.contains("Virtual network adapter 1 of “web” connected to “Red”."))
        #expect(page.contains("Added Virtual network adapter 2"))
        #expect(!page.contains("Network adapters saved."))
    }

    @Test func anAddWhoseEditsAreRefusedAddsNothingAndKeepsTheInput() throws {
        let site = try SiteFixture()
        let vm = try site.vms.create(name: "web", notes: "")
        let nic = try #require(try site.store.read { try $0.nics(of: vm.id) }.first)
        let refused = site.post("/vms/\(vm.id.rawValue)/nics", [
            ("action", "add"), ("version", "1"), ("nic-1-id", nic.id.rawValue),
            ("nic-1-network", ""), ("nic-1-mac-mode", "static"), ("nic-1-mac", "01-00-5E-00-00-01"),
        ])
        #expect(refused.status == 422)
        #expect(refused.bodyText.contains("value=\"01-00-5E-00-00-01\""))
        #expect(try site.store.read { try $0.nics(of: vm.id) }.count == 1)
    }

    @Test func everyActionSaysWhatItDidAndNothingWhenNothingChanged() throws {
        let site = try SiteFixture()
        let created = site.post("/networks", [("name", "Lab A"), ("notes", "")])
        #expect(created.status == 303)
        let id = try #require(SiteFixture.createdID(created))
        #expect(follow(site, created).contains("Created a guest-only network “Lab A”."))

        let unchanged = site.post("/networks/\(id)/settings", [("version", "1"), ("name", "Lab A"), ("notes", "")])
        #expect(unchanged.status == 303)
        #expect(unchanged.header("Location") == "/networks/\(id)", "no notice for nothing")

        let version = try #require(try site.store.read { try $0.network(NetworkID(rawValue: id)) }).version
        let renamed = site.post("/networks/\(id)/settings", [("version", "\(version)"), ("name", "Lab B"), ("notes", "")])
        #expect(follow(site, renamed).contains("Renamed “Lab A” to “Lab B”"))

        let vm = site.post("/vms", [("name", "web"), ("network", id)])
        #expect(follow(site, vm).contains("Created virtual machine “web”"))
        let vmID = try #require(SiteFixture.createdID(vm))
        #expect(follow(site, site.post("/vms/\(vmID)/settings", [("version", "1"), ("name", "web-1")])).contains("Renamed “web” to “web-1”."))
        #expect(follow(site, site.post("/vms/\(vmID)/remove", [])).contains("Removed virtual machine “web-1”"))
        #expect(follow(site, site.post("/networks/\(id)/remove", [])).contains("Removed network “Lab B”"))
        #expect(follow(site, site.post("/adapters", [("bind", "eth0")])).contains("Virtual Machine Network Services turned on for eth0."))
    }

    @Test func aNoticeLinkShowsOnlyTheReadersOwnEvents() throws {
        let site = try SiteFixture()
        let network = try Acting.$administrator.withValue("alice") {
            try site.networks.create(NetworkDraft(name: "Hers", adapter: nil, notes: ""))
        }
        let page = site.get("/networks/\(network.id.rawValue)?done=1-5").bodyText
        #expect(!page.contains("Created a guest-only network “Hers”."))
        #expect(site.get("/networks/\(network.id.rawValue)?done=x").status == 200)
    }

    @Test func aConflictShowsTheInputBesideTheStoredValuesAndWhoChangedThem() throws {
        let site = try SiteFixture()
        let vm = try site.vms.create(name: "web", notes: "")
        site.clock.advance(by: 60)
        try Acting.$administrator.withValue("alice") {
            _ = try site.vms.update(vm.id, version: 1, name: "db", notes: "")
        }
        let stale = site.post("/vms/\(vm.id.rawValue)/settings", [("version", "1"), ("name", "my-typed-name"), ("notes", "my notes")])
        #expect(stale.status == 409)
        let html = stale.bodyText
        #expect(html.contains("my-typed-name"), "the input is kept")
        #expect(html.contains("my notes"))
        #expect(html.contains("value=\"db\""), "the form shows what is stored now")
        #expect(html.contains("alice"))
        #expect(html.contains(Formatting_utc(site.clock.now())))
        #expect(html.contains("Renamed “web” to “db”."))

        let network = try site.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        try Acting.$administrator.withValue("bob") {
            _ = try site.networks.update(network.id, version: 1, NetworkDraft(name: "Lab 2", adapter: nil, notes: ""))
        }
        let staleNetwork = site.post("/networks/\(network.id.rawValue)/settings", [("version", "1"), ("name", "Typed"), ("notes", "")])
        #expect(staleNetwork.status == 409)
        #expect(staleNetwork.bodyText.contains("Typed"))
        #expect(staleNetwork.bodyText.contains("bob"))
        #expect(staleNetwork.bodyText.contains("value=\"Lab 2\""))
    }

    @Test func aStaleAdaptersFormKeepsTheInputBesideTheCurrentAdapters() throws {
        let site = try SiteFixture()
        let red = try site.networks.create(NetworkDraft(name: "Red", adapter: nil, notes: ""))
        let vm = try site.vms.create(name: "web", notes: "")
        let nic = try #require(try site.store.read { try $0.nics(of: vm.id) }.first)
        try Acting.$administrator.withValue("carol") { _ = try site.vms.addNIC(to: vm.id, version: 1) }
        let stale = site.post("/vms/\(vm.id.rawValue)/nics", [
            ("action", "save"), ("version", "1"), ("nic-1-id", nic.id.rawValue), ("nic-1-network", red.id.rawValue), ("nic-1-mac-mode", "dynamic"),
        ])
        #expect(stale.status == 409)
        #expect(stale.bodyText.contains("carol"))
        #expect(stale.bodyText.contains("Your input"))
        #expect(stale.bodyText.contains("Connected to “Red”"))
    }

    @Test func anOversizeFormComesBackAsTheFormWithAMessage() throws {
        let site = try SiteFixture()
        let pages = try #require(site.responder as? any ErrorPageRendering)
        _ = site.get("/networks/new")
        var request = Request(method: "POST", path: "/networks")
        request.cookies = site.cookies
        let page = pages.errorPage(status: 413, message: "The request body is larger than this server accepts.", for: request)
        #expect(page.status == 413)
        #expect(page.bodyText.contains("<form method=\"post\" action=\"/networks\""))
        #expect(page.bodyText.contains("The request body is larger than this server accepts."))
        #expect(page.bodyText.contains("Nothing was saved"))
        // Not signed in: the ordinary error page, nothing of the site.
        var stranger = Request(method: "POST", path: "/networks")
        stranger.cookies = [:]
        #expect(!pages.errorPage(status: 413, message: "x", for: stranger).bodyText.contains("<form method=\"post\" action=\"/networks\""))
    }

    @Test func notesStateAndEnforceTheirLimitInTheForm() throws {
        let site = try SiteFixture()
        let network = try site.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        let vm = try site.vms.create(name: "web", notes: "")
        for path in ["/networks/new", "/networks/\(network.id.rawValue)/settings", "/vms/new", "/vms/\(vm.id.rawValue)/settings"] {
            let html = site.get(path).bodyText
            #expect(html.contains("maxlength=\"\(NotesRules.maximumLength)\""), "\(path)")
            #expect(html.contains("At most 10,000 bytes"), "\(path)")
        }
    }
}

/// The UTC form pages use for times.
func Formatting_utc(_ date: Date) -> String {
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.timeZone = TimeZone(identifier: "UTC")
    formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
    return formatter.string(from: date) + " UTC"
}
