import Domain
import Packets
import Testing

@Suite("Host Adapters page warnings")
struct AdapterWarningTests {
    /// An access point drops frames from MACs that did not associate with it: say so before an
    /// administrator builds an external network that cannot work.
    @Test func aWirelessAdapterCarriesAWarningAndAWiredOneDoesNot() throws {
        let site = try SiteFixture()
        site.adapters.plug(DiscoveredAdapter(name: "wlan0", mac: MACAddress(parsing: "a0:b1:c2:d3:e4:f5"), isUp: true, hasCarrier: true, speedMbps: nil, isWireless: true))
        let page = site.get("/adapters").bodyText
        let rows = page.components(separatedBy: "<tr").filter { $0.contains("<strong>") }
        let wireless = try #require(rows.first { $0.contains("<strong>wlan0</strong>") })
        let wired = try #require(rows.first { $0.contains("<strong>eth0</strong>") })
        #expect(wireless.contains("Access points drop frames from MAC addresses that did not join them"))
        #expect(!wired.contains("Access points drop frames"))
    }
}
