import Domain
import Foundation
import Testing
@testable import AdminSite
import WebServer

/// Every number a request carries is clamped or refused, never allowed to trap (issue 11).
@Suite("Numbers from requests")
struct RequestNumberTests {
    static let extremes = [
        "999999999999999999", "9223372036854775807", "-9223372036854775808", "9223372036854775808",
        "99999999999999999999999", "0", "-1", "+5", "1e9",
    ]

    @Test(arguments: extremes)
    func pageNumbersAreClamped(value: String) throws {
        let site = try SiteFixture()
        for index in 1...60 { try site.recorder.record(EventKind(rawValue: "test.step"), .server, "event \(index).") }
        let events = site.get("/events?page=\(value)")
        #expect(events.status == 200)
        #expect(events.bodyText.contains("Page 1 of 2") || events.bodyText.contains("Page 2 of 2"))
        for path in ["/networks", "/vms"] {
            #expect(site.get("\(path)?page=\(value)").status == 200, "\(path)")
        }
        let refreshing = site.get("/?refresh=\(value)")
        #expect(refreshing.status == 200)
        let allowed = Int(value).map { (2...3600).contains($0) } ?? false
        #expect(refreshing.bodyText.contains("http-equiv=\"refresh\"") == allowed)
    }

    @Test(arguments: extremes)
    func formVersionsAndSlotsAreRefusedNotTrapped(value: String) throws {
        let site = try SiteFixture()
        let network = try site.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: "")).id.rawValue
        let vm = try site.vms.create(name: "Web", notes: "", connectingTo: nil).id.rawValue
        #expect(site.get("/vms/\(vm)/nics?remove=\(value)").status == 200)
        let saves = [
            site.post("/networks/\(network)/settings", [("version", value), ("name", "Lab 2"), ("adapter", ""), ("notes", "")]),
            site.post("/vms/\(vm)/settings", [("version", value), ("name", "Web 2"), ("notes", "")]),
            site.post("/vms/\(vm)/nics", [("action", "add"), ("version", value)]),
            site.post("/networks/\(network)/dhcp", [("action", "reserve"), ("version", value), ("reservationMAC", "00-03-FF-00-00-09"), ("reservationAddress", "192.168.131.50")]),
        ]
        for save in saves {
            #expect(save.status < 500, "answered, got \(save.status)")
        }
    }

    @Test(arguments: extremes)
    func dhcpTimesOutOfRangeAreRefused(value: String) throws {
        let site = try SiteFixture()
        let network = try site.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: "")).id.rawValue
        var fields: [(String, String)] = [
            ("action", "save"), ("version", "0"), ("enabled", "on"), ("network", "192.168.140.0"), ("mask", "255.255.255.0"),
            ("rangeStart", "192.168.140.16"), ("rangeEnd", "192.168.140.254"), ("server", "192.168.140.1"),
        ]
        fields += [("leaseTime", value), ("renewalTime", value), ("rebindingTime", value)]
        #expect(site.post("/networks/\(network)/dhcp", fields).status == 422)
    }

    @Test func timeFormattingNeverTraps() {
        for seconds in [Double.nan, .infinity, -.infinity, 1e300, -1e300, 9.3e18, -9.3e18] {
            _ = Formatting.utc(Date(timeIntervalSince1970: seconds))
            _ = Formatting.duration(seconds)
        }
        #expect(Formatting.duration(1e300).hasSuffix("h"))
        #expect(Formatting.utc(Date(timeIntervalSince1970: 0)) == "1970-01-01 00:00:00 UTC")
    }
}
