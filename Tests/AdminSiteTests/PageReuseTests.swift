import AdminSite
import Domain
import Foundation
import Packets
import Storage
import Testing
import WebServer

/// Pages that are reused between changes (RenderCache) show every change: of the store, of the
/// published runtime status, of the host's adapters, and a lease running out on time.
@Suite("Reused pages stay true")
struct PageReuseTests {
    func traffic(_ bytes: UInt64, frames: UInt64) -> NetworkRuntimeStatus {
        var history = Array(repeating: TrafficSample(frames: 0, bytes: 0), count: 60)
        history[59] = TrafficSample(frames: frames, bytes: bytes)
        return NetworkRuntimeStatus(isRunning: true, detail: "Switching 0 ports.", ports: [], history: history, dhcp: nil)
    }

    @Test func theNetworkListFollowsEachPublicationAndEachChange() throws {
        let site = try SiteFixture()
        let red = try site.networks.create(NetworkDraft(name: "Red", adapter: nil, notes: ""))
        site.status.publish(1)
        site.status.set(traffic(1500, frames: 5), for: red.id)
        #expect(site.get("/networks").bodyText.contains("1.5 kB/s, 5 frames/s"))
        site.status.set(traffic(3000, frames: 9), for: red.id)
        site.status.publish(2)
        #expect(site.get("/networks").bodyText.contains("3.0 kB/s, 9 frames/s"), "a new publication shows")
        _ = try site.networks.create(NetworkDraft(name: "Green", adapter: nil, notes: ""))
        #expect(site.get("/networks").bodyText.contains(">Green</a>"), "a change in the store shows")
    }

    @Test func aMissingAdapterShowsWithoutAPublication() throws {
        let site = try SiteFixture()
        try site.bindings.setBindings(bound: ["eth0"])
        _ = try site.networks.create(NetworkDraft(name: "LAN", adapter: "eth0", notes: ""))
        site.status.publish(1)
        #expect(!site.get("/networks").bodyText.contains("adapter not found"))
        site.adapters.unplug("eth0")
        #expect(site.get("/networks").bodyText.contains("adapter not found"))
    }

    @Test func theVMPageDropsALeaseWhenItRunsOut() throws {
        let site = try SiteFixture()
        let red = try site.networks.create(NetworkDraft(name: "Red", adapter: nil, notes: ""))
        let vm = try site.vms.create(name: "web", notes: "", connectingTo: red.id)
        let nic = try #require(try site.store.read { try $0.nics(of: vm.id) }.first)
        let lease = DHCPLease(network: red.id, address: IPv4Address(192, 168, 131, 20), mac: nic.mac, clientID: [], hostName: nil,
                              expires: site.clock.now().addingTimeInterval(30))
        try SQLiteLeaseStore(database: site.database).save([.bound(lease)])
        site.status.publish(1)
        #expect(site.get("/vms/\(vm.id.rawValue)").bodyText.contains("192.168.131.20 (DHCP"))
        site.clock.advance(by: 29)
        #expect(site.get("/vms/\(vm.id.rawValue)").bodyText.contains("192.168.131.20 (DHCP"))
        site.clock.advance(by: 2)
        #expect(!site.get("/vms/\(vm.id.rawValue)").bodyText.contains("192.168.131.20"), "gone at its time, though nothing else changed")
    }

    @Test func theAdaptersFormIsReusedWithEachBrowsersOwnToken() throws {
        let site = try SiteFixture()
        let vm = try site.vms.create(name: "web", notes: "")
        let path = "/vms/\(vm.id.rawValue)/nics"
        func token(in page: String) -> String? {
            page.firstMatch(of: /name="csrf_token" value="([0-9a-f]{64})"/).map { String($0.output.1) }
        }
        let first = site.get(path).bodyText
        let firstToken = try #require(token(in: first))
        site.forgetCookie(CSRFProtection.cookieName)
        let secondPage = site.get(path)
        let secondToken = try #require(token(in: secondPage.bodyText))
        #expect(secondToken != firstToken, "another browser gets its own token, not the first one's")
        #expect(secondPage.header("Set-Cookie")?.contains(secondToken) == true, "the one its cookie holds")
        #expect(secondPage.bodyText.replacingOccurrences(of: secondToken, with: firstToken) == first, "the rest is the same page")
        let added = site.post(path, [("action", "add"), ("version", "1")])
        #expect(added.status == 303, "the spliced token is accepted")
        #expect(site.get(path).bodyText.contains("Virtual network adapter 2"), "a change in the store shows")
    }
}
