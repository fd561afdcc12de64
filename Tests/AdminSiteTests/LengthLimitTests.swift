import Domain
import Foundation
import Testing
import WebServer

/// Limits count stored bytes, not grapheme clusters: one cluster can hold any number of
/// combining marks (issue 11).
@Suite("Length limits")
struct LengthLimitTests {
    static let heavyCluster = "a" + String(repeating: "\u{0301}", count: 2000)

    @Test func namesAndNotesAreLimitedByUTF8Bytes() throws {
        let site = try SiteFixture()
        #expect(site.post("/networks", [("name", String(repeating: "n", count: 256)), ("adapter", ""), ("notes", "")]).status == 303)
        for name in [Self.heavyCluster, String(repeating: "é", count: 129), String(repeating: "e\u{0301}", count: 100)] {
            let refused = site.post("/networks", [("name", name), ("adapter", ""), ("notes", "")])
            #expect(refused.status == 422, "\(name.utf8.count) bytes in \(name.count) characters")
            #expect(refused.bodyText.contains("at most 256 bytes"))
            #expect(site.post("/vms", [("name", name), ("notes", "")]).status == 422)
        }
        let notes = String(repeating: "e\u{0301}", count: 4000)
        #expect(site.post("/networks", [("name", "Lab"), ("adapter", ""), ("notes", notes)]).status == 422)
        #expect(site.post("/vms", [("name", "Web"), ("notes", notes)]).status == 422)
        #expect(site.post("/vms", [("name", "Web"), ("notes", String(repeating: "n", count: 10_000))]).status == 303)
    }

    @Test func aSignInNameAddsAtMost64EscapedScalarsToTheEventLog() throws {
        let site = try SiteFixture(signedIn: false)
        #expect(site.signIn(Self.heavyCluster, password: "wrong").status == 403)
        #expect(site.signIn("line\none\u{1B}[31m", password: "wrong").status == 403)
        let events = try site.dependencies.eventLog.page(offset: 0, limit: 10).events.filter { $0.kind == .signInRefused }
        #expect(events.count == 2)
        for event in events {
            #expect(event.subject.name.unicodeScalars.count <= 64 * 8)
            #expect(event.message.unicodeScalars.count < 600)
            #expect(!event.message.unicodeScalars.contains { $0.properties.generalCategory == .control })
        }
        #expect(events.contains { $0.message.contains("line\\u{A}one\\u{1B}[31m") })
    }
}
