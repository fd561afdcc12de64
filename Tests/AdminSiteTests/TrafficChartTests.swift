import AdminSite
import Domain
import Foundation
import Testing

/// Issue 13 item 7: the network's chart plots frames as well as bytes, and its text alternative
/// states what was measured (the scale's top is not a peak).
@Suite("Traffic chart")
struct TrafficChartTests {
    func page(received: [TrafficSample], sent: [TrafficSample]) throws -> String {
        let site = try SiteFixture()
        let network = try site.networks.create(NetworkDraft(name: "Red", adapter: nil, notes: ""))
        var status = NetworkRuntimeStatus(isRunning: true, detail: "Switching 0 ports.", ports: [], history: received, dhcp: nil)
        status.sentHistory = sent
        site.status.set(status, for: network.id)
        return site.get("/networks/\(network.id.rawValue)").bodyText
    }

    /// The `points` of the polylines of class `kind`, one string per panel, in page order.
    func polylines(_ html: String, _ kind: String) -> [String] {
        html.matches(of: try! Regex("<polyline class=\"\(kind)\" points=\"([^\"]*)\"")).map { String($0.output[1].substring ?? "") }
    }

    func labels(_ html: String) -> [String] {
        html.matches(of: /role="img" aria-label="([^"]*)"/).map { String($0.output.1) }
    }

    @Test func framesHaveAPanelOfTheirOwnWithItsScale() throws {
        // Bytes steady while frames rise: small frames in the second half.
        var received = Array(repeating: TrafficSample(frames: 10, bytes: 15_000), count: 60)
        for second in 30..<60 { received[second] = TrafficSample(frames: 200, bytes: 15_000) }
        let sent = Array(repeating: TrafficSample(frames: 50, bytes: 3_000), count: 60)
        let html = try page(received: received, sent: sent)

        #expect(html.contains(">Bytes per second<") && html.contains(">Frames per second<"))
        let received2 = polylines(html, "received"), sent2 = polylines(html, "sent")
        try #require(received2.count == 2 && sent2.count == 2, "two panels, each with both directions")
        let bytePoints = received2[0].split(separator: " "), framePoints = received2[1].split(separator: " ")
        #expect(Set(bytePoints.map { $0.split(separator: ",")[1] }).count == 1, "bytes are flat")
        #expect(framePoints.first?.hasSuffix(",114.2") == true, "10 of 200 frames/s: near the bottom (\(framePoints.first ?? ""))")
        #expect(framePoints.last?.hasSuffix(",4.0") == true, "200 frames/s reaches the top of its scale (\(framePoints.last ?? ""))")
        #expect(html.contains("<span>200 frames/s</span><span>100 frames/s</span><span>0</span>"), "the frames scale")
        #expect(html.contains("<span>15 kB/s</span><span>7.5 kB/s</span><span>0</span>"), "the bytes scale")
        let text = labels(html)
        #expect(text.count == 2)
        #expect(text.last == "Frames per second over the last 60 seconds: received from ports now 200 frames/s, peak 200 frames/s; sent to ports now 50 frames/s, peak 50 frames/s")
        #expect(html.contains("Received from ports: 15 kB/s (200 frames/s) now, peak 15 kB/s, 200 frames/s"))
    }

    @Test func aQuietNetworksTextAlternativeClaimsNoPeak() throws {
        let quiet = Array(repeating: TrafficSample(frames: 0, bytes: 0), count: 60)
        let html = try page(received: quiet, sent: quiet)
        #expect(html.contains("<span>1.0 kB/s</span><span>500 B/s</span><span>0</span>"), "the axis still has a scale")
        #expect(labels(html).first == "Bytes per second over the last 60 seconds: received from ports now 0 B/s, peak 0 B/s; sent to ports now 0 B/s, peak 0 B/s; no traffic in the last 60 s",
                "the scale's 1.0 kB/s is not called the peak")
        #expect(html.contains("no traffic in the last 60 s."))
    }
}
