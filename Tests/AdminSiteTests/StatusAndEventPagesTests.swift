import Domain
import Foundation
import Testing
import TestSupport
import WebServer

@Suite("Master status and Event Viewer pages")
struct StatusAndEventPagesTests {
    @Test func masterStatusShowsCountsFromTheDatabaseAndRecentEvents() throws {
        let site = try SiteFixture()
        try site.database.writeForTests("""
            INSERT INTO network (id, name, name_key, created_at, changed_at) VALUES ('n1', 'Lab', 'lab', 0, 0), ('n2', 'DMZ', 'dmz', 0, 0);
            INSERT INTO vm (id, name, name_key, created_at, changed_at) VALUES ('v1', 'Web', 'web', 0, 0);
            INSERT INTO nic (id, vm_id, slot, network_id, mac) VALUES ('c1', 'v1', 1, 'n1', '00:03:ff:00:00:01');
            """)
        try site.recorder.record(.serverStarted, .server, "vnetd started for the test.")
        let page = site.get("/")
        #expect(page.status == 200)
        #expect(page.header("Content-Type") == "text/html; charset=utf-8")
        let html = page.bodyText
        #expect(html.contains("<span class=\"figure\">2</span><span class=\"label\">Virtual networks</span>"))
        #expect(html.contains("<span class=\"figure\">1</span><span class=\"label\">Virtual machines</span>"))
        #expect(html.contains("1 connected"))
        #expect(html.contains("vnetd started for the test."))
        #expect(html.contains("aria-current=\"page\">Master Status"))
        #expect(html.contains("href=\"/static/css/vnetd.css\""))
    }

    @Test func statusAndEventPagesNeverShowStaleDataAfterAChange() throws {
        let site = try SiteFixture()
        #expect(site.get("/").bodyText.contains("<span class=\"figure\">0</span><span class=\"label\">Virtual networks</span>"))
        #expect(!site.get("/events").bodyText.contains("Lab"))
        try site.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        #expect(site.get("/").bodyText.contains("<span class=\"figure\">1</span><span class=\"label\">Virtual networks</span>"))
        #expect(site.get("/events").bodyText.contains("Created a guest-only network “Lab”."))
        site.clock.advance(by: 120)
        #expect(site.get("/").bodyText.contains("(2 min)"))
    }

    @Test func eventViewerPagesNewestFirst() throws {
        let site = try SiteFixture()
        for index in 1...120 {
            try site.recorder.record(EventKind(rawValue: "test.step"), .server, "event number \(index).")
            site.clock.advance(by: 1)
        }
        let first = site.get("/events").bodyText
        #expect(first.contains("event number 120."))
        #expect(first.contains("event number 71."))
        #expect(!first.contains("event number 70."))
        #expect(first.contains("Page 1 of 3"))
        #expect(first.contains("href=\"/events?page=2\""))

        let last = site.get("/events?page=3").bodyText
        #expect(last.contains("event number 1."))
        #expect(!last.contains("event number 21."))
        #expect(last.contains("href=\"/events?page=2\""))
        #expect(site.get("/events?page=99").bodyText.contains("Page 3 of 3"))
        #expect(site.get("/events?page=banana").bodyText.contains("Page 1 of 3"))
    }

    @Test func eventTextIsEscaped() throws {
        let site = try SiteFixture()
        try site.recorder.record(
            EventKind(rawValue: "test.xss"), EventSubject(kind: .network, id: "n\"1", name: "<b>Lab</b>"),
            "<script>alert('x')</script> & \"quotes\"")
        for path in ["/", "/events"] {
            let html = site.get(path).bodyText
            #expect(!html.contains("<script>"))
            #expect(!html.contains("<b>Lab</b>"))
            #expect(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;quotes&quot;"))
            #expect(html.contains("&lt;b&gt;Lab&lt;/b&gt;"))
            #expect(!html.contains("href=\"/networks/n\"1\""))
        }
    }

    @Test func eventTimesAreShownInUTC() throws {
        let site = try SiteFixture()
        try site.recorder.record(.serverStarted, .server, "at a known time")
        // ManualClock starts at 1_800_000_000 s = 2027-01-15 08:00:00 UTC.
        #expect(site.get("/events").bodyText.contains("2027-01-15 08:00:00 UTC"))
    }

    @Test func refreshParameterAddsAMetaRefreshWithinLimits() throws {
        let site = try SiteFixture()
        #expect(site.get("/?refresh=5").bodyText.contains("<meta http-equiv=\"refresh\" content=\"5\">"))
        #expect(!site.get("/?refresh=0").bodyText.contains("http-equiv=\"refresh\""))
        #expect(!site.get("/?refresh=1").bodyText.contains("http-equiv=\"refresh\""), "below 2 s")
        #expect(site.get("/?refresh=2").bodyText.contains("<meta http-equiv=\"refresh\" content=\"2\">"))
        #expect(site.get("/events?refresh=3600").bodyText.contains("<meta http-equiv=\"refresh\" content=\"3600\">"))
        #expect(!site.get("/events?refresh=3601").bodyText.contains("http-equiv=\"refresh\""), "above an hour")
        #expect(!site.get("/?refresh=-5").bodyText.contains("http-equiv=\"refresh\""))
        #expect(!site.get("/?refresh=%22%3E").bodyText.contains("http-equiv=\"refresh\""))
        #expect(!site.get("/").bodyText.contains("http-equiv=\"refresh\""))
    }

    @Test func unknownPagesGetAStyled404WithNavigation() throws {
        let site = try SiteFixture()
        let page = site.get("/no/such/page")
        #expect(page.status == 404)
        #expect(page.bodyText.contains("Event Viewer"))
        #expect(page.bodyText.contains("404 Not Found"))
    }

    @Test func postWithoutTokenIs403() throws {
        let site = try SiteFixture()
        let refused = site.post("/events", [], withToken: false)
        #expect(refused.status == 403)
        #expect(refused.bodyText.contains("Reload the page"))
        #expect(site.post("/events", []).status == 405)
    }
}
