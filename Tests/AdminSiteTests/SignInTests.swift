import AdminSite
import Domain
import Foundation
import Testing
import TestSupport
import WebServer

@Suite("Only signed-in administrators get in")
struct SignInTests {
    /// Fills `{id}` with an object that exists, so a refusal is the gate's and not a 404.
    func concretePath(_ pattern: String, network: String, vm: String) -> String {
        if pattern == "/static/" { return "/static/css/vnetd.css" }
        let id = pattern.hasPrefix("/vms/") ? vm : network
        return pattern.replacingOccurrences(of: "{id}", with: id)
    }

    @Test func everyRouteAndStaticFileNeedsASessionAndEveryOneWorksWithIt() throws {
        let site = try SiteFixture(signedIn: false)
        let network = try site.networks.create(NetworkDraft(name: "LAN", adapter: nil, notes: ""))
        let vm = try site.vms.create(name: "web", notes: "", connectingTo: network.id)
        let routes = AdminSite.routeList(dependencies: site.dependencies, renderer: try TemplateRenderer(directory: repositoryRoot + "/Templates"),
                                         publicDirectory: repositoryRoot + "/Public")
        #expect(routes.count >= 30, "the walk covers the whole router")
        #expect(routes.contains { $0.pattern == "/static/" })

        for route in routes where route.pattern != "/login" {
            let path = concretePath(route.pattern, network: network.id.rawValue, vm: vm.id.rawValue)
            let before = site.database.generation
            let response = route.method == "GET" ? site.get(path) : site.post(path, [("name", "intruder"), ("notes", "x")])
            if route.method == "GET" {
                #expect(response.status == 303, "\(route.method) \(path)")
                #expect(response.header("Location")?.hasPrefix("/login") == true, "\(route.method) \(path)")
                #expect(!response.bodyText.contains("LAN"), "\(path) leaks nothing")
            } else {
                #expect(response.status == 401, "\(route.method) \(path)")
            }
            #expect(site.database.generation == before, "\(route.method) \(path) changed nothing")
        }

        #expect(site.signIn().status == 303)
        for route in routes where route.method == "GET" && route.pattern != "/login" {
            let path = concretePath(route.pattern, network: network.id.rawValue, vm: vm.id.rawValue)
            #expect(site.get(path).status == 200, "GET \(path) with a session")
        }
    }

    @Test func aWrongPasswordIsRefusedKeepingTheNameAndRecorded() throws {
        let site = try SiteFixture(signedIn: false)
        let refused = site.signIn(password: "not the password")
        #expect(refused.status == 403)
        #expect(refused.bodyText.contains("The name or password is not right."))
        #expect(refused.bodyText.contains("value=\"tester\""))
        #expect(site.cookies["vnetd_session"] == nil)
        let unknown = site.signIn("nobody", password: "whatever it is")
        #expect(unknown.status == 403)
        #expect(unknown.bodyText.contains("The name or password is not right."), "an unknown name gets the same answer")
        let events = try site.recorderEvents()
        #expect(events.contains { $0.kind == .signInRefused && $0.message.contains("“nobody” from 192.0.2.10") })
        #expect(site.get("/").status == 303)
    }

    @Test func signInReturnsToThePageAskedForButNeverToAnotherSite() throws {
        let site = try SiteFixture(signedIn: false)
        let redirect = site.get("/vms")
        #expect(redirect.header("Location") == "/login?next=/vms")
        #expect(site.signIn(next: "/vms").header("Location") == "/vms")
        for hostile in ["//evil.example/", "https://evil.example/", "/\\evil.example", "/login?next=//x", "javascript:alert(1)"] {
            let other = try SiteFixture(signedIn: false)
            #expect(other.signIn(next: hostile).header("Location") == "/", "\(hostile)")
        }
    }

    @Test func repeatedFailuresFromOneAddressAreSlowedDownEvenForTheRightPassword() throws {
        let site = try SiteFixture(signedIn: false)
        for _ in 0..<5 { #expect(site.signIn(password: "guess guess").status == 403) }
        let throttled = site.signIn()
        #expect(throttled.status == 429)
        #expect(throttled.header("Retry-After") == "1")
        #expect(throttled.bodyText.contains("Too many failed sign-ins"))
        site.clock.advance(by: 1.5)
        #expect(site.signIn(password: "guess again").status == 403)
        #expect(site.signIn().header("Retry-After") == "2", "each further failure doubles the wait")

        site.clientAddress = "192.0.2.99"
        #expect(site.signIn().status == 303, "another address is not slowed down")
        site.forgetCookie("vnetd_session")
        site.clientAddress = "192.0.2.10"
        site.clock.advance(by: 3)
        #expect(site.signIn().status == 303, "after the wait the right password works")
    }

    @Test func sessionsEndAfterInactivityButNotWhileUsed() throws {
        let site = try SiteFixture(sessionPolicy: SessionPolicy(idleTimeout: 60, lifetime: 3600))
        for _ in 0..<5 {
            site.clock.advance(by: 50)
            #expect(site.get("/networks").status == 200, "use keeps the session open")
        }
        site.clock.advance(by: 61)
        #expect(site.get("/networks").status == 303)
        #expect(site.cookies["vnetd_session"] == nil, "the dead cookie is cleared")
    }

    @Test func sessionsEndAtTheirLifetimeHoweverBusy() throws {
        let site = try SiteFixture(sessionPolicy: SessionPolicy(idleTimeout: 600, lifetime: 1800))
        for _ in 0..<3 {
            site.clock.advance(by: 500)
            #expect(site.get("/").status == 200)
        }
        site.clock.advance(by: 400)
        #expect(site.get("/").status == 303)
    }

    @Test func signOutEndsTheSessionForGood() throws {
        let site = try SiteFixture()
        let token = try #require(site.cookies["vnetd_session"])
        #expect(site.get("/logout").bodyText.contains("End your session as <strong>tester</strong>"))
        let out = site.post("/logout", [])
        #expect(out.status == 303)
        #expect(out.header("Location") == "/login")
        #expect(site.cookies["vnetd_session"] == nil)
        #expect(site.get("/").status == 303)
        var replay = Request(method: "GET", path: "/")
        replay.cookies = ["vnetd_session": token]
        #expect(site.responder.respond(to: replay).status == 303, "the old token is dead, not just forgotten by the browser")
    }

    @Test func aChangedPasswordOrRemovedAccountEndsOpenSessions() throws {
        let site = try SiteFixture()
        try site.access.administrators.changePassword(name: SiteFixture.administrator, to: "a brand new password")
        #expect(site.get("/").status == 200, "re-read at most every few seconds")
        site.clock.advance(by: 6)
        #expect(site.get("/").status == 303)
        #expect(site.signIn(password: "a brand new password").status == 303)
    }

    @Test func aRemovedAccountsSessionsEndAndOthersCarryOn() throws {
        let site = try SiteFixture()
        let testerSession = try #require(site.cookies["vnetd_session"])
        _ = try site.access.administrators.add(name: "second", password: "second's long password")
        site.forgetCookie("vnetd_session")
        #expect(site.signIn("second", password: "second's long password").status == 303)
        let secondSession = try #require(site.cookies["vnetd_session"])
        #expect(secondSession != testerSession)
        func status(of session: String) -> Int {
            var request = Request(method: "GET", path: "/")
            request.cookies = ["vnetd_session": session]
            return site.responder.respond(to: request).status
        }
        #expect(status(of: secondSession) == 200)
        try site.access.administrators.remove(name: "second")
        site.clock.advance(by: 6)
        #expect(status(of: secondSession) == 303, "the removed account's session is over")
        #expect(site.get("/").status == 303, "also in the browser that holds it")
        #expect(status(of: testerSession) == 200, "the remaining account's session carries on")
        #expect(site.signIn("second", password: "second's long password").status == 403)
    }

    @Test func anAdministratorChangesTheirOwnPasswordOnTheSite() throws {
        let site = try SiteFixture()
        let otherBrowser = try #require(site.cookies["vnetd_session"])
        site.forgetCookie("vnetd_session")
        #expect(site.signIn().status == 303, "this browser signs in too")
        let wrong = site.post("/account/password", [("current", "not it at all"), ("password", "brand new secret"), ("repeat", "brand new secret")])
        #expect(wrong.status == 422)
        #expect(wrong.bodyText.contains("This is not your current password."))
        #expect(!wrong.bodyText.contains("brand new secret"), "passwords are never sent back")
        let differ = site.post("/account/password", [("current", SiteFixture.password), ("password", "brand new secret"), ("repeat", "brand new secreT")])
        #expect(differ.status == 422)
        #expect(differ.bodyText.contains("The two new passwords differ."))
        let short = site.post("/account/password", [("current", SiteFixture.password), ("password", "short"), ("repeat", "short")])
        #expect(short.bodyText.contains("at least 8 characters"))
        #expect(try site.access.administrators.verify(name: SiteFixture.administrator, password: SiteFixture.password) != nil, "nothing changed yet")

        let changed = site.post("/account/password", [("current", SiteFixture.password), ("password", "brand new secret"), ("repeat", "brand new secret")])
        #expect(changed.status == 303)
        #expect(site.get("/account/password?changed=1").bodyText.contains("Your password was changed."), "this browser stays signed in")
        #expect(try site.access.administrators.verify(name: SiteFixture.administrator, password: "brand new secret") != nil)
        #expect(try site.access.administrators.verify(name: SiteFixture.administrator, password: SiteFixture.password) == nil)
        site.clock.advance(by: 6)
        var other = Request(method: "GET", path: "/")
        other.cookies = ["vnetd_session": otherBrowser]
        #expect(site.responder.respond(to: other).status == 303, "the other browser's session ended")
        #expect(site.get("/").status == 200)
        #expect(try site.recorderEvents().contains { $0.kind == .passwordChanged && $0.actor == SiteFixture.administrator })
    }

    @Test func changesRecordWhoMadeThem() throws {
        let site = try SiteFixture()
        #expect(site.post("/networks", [("name", "Lab"), ("notes", "")]).status == 303)
        let events = try site.recorderEvents()
        let created = try #require(events.first { $0.kind == .networkCreated })
        #expect(created.actor == "tester")
        #expect(events.contains { $0.kind == .signedIn && $0.actor == "tester" })
        let viewer = site.get("/events").bodyText
        #expect(viewer.contains("<td data-label=\"By\">tester</td>"))
    }

    @Test func theSignInPageStandsAloneUnderAStrictPolicy() throws {
        let site = try SiteFixture(signedIn: false)
        let page = site.get("/login")
        #expect(page.status == 200)
        #expect(!page.bodyText.contains("/static/"), "it loads nothing that needs a session")
        let policy = try #require(page.header("Content-Security-Policy"))
        let nonce = try #require(policy.firstMatch(of: /style-src 'nonce-([0-9a-f]{32})'/)?.output.1)
        #expect(page.bodyText.contains("<style nonce=\"\(nonce)\">"))
        #expect(!policy.contains("unsafe-inline"))
        #expect(site.get("/login").header("Content-Security-Policy") != policy, "a fresh nonce per response")
        let forged = site.post("/login", [("name", SiteFixture.administrator), ("password", SiteFixture.password)], withToken: false)
        #expect(forged.status == 403, "a sign-in form from another site is refused (login CSRF)")
    }
}

extension SiteFixture {
    func recorderEvents() throws -> [Event] {
        try dependencies.eventLog.page(offset: 0, limit: 1000).events
    }
}
