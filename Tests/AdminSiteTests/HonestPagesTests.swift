import AdminSite
import Domain
import Foundation
import Packets
import Storage
import Testing
import TestSupport
import WebServer

/// Issue 13, items 5–9, through the router with a canned switching core.
@Suite("Honest status pages")
struct HonestPagesTests {
    struct Setup {
        let site: SiteFixture
        let red: VirtualNetwork
        let blue: VirtualNetwork
        let vm: VirtualMachine
        let nic: VirtualNIC
    }

    func setup() throws -> Setup {
        let site = try SiteFixture()
        let red = try site.networks.create(NetworkDraft(name: "Red", adapter: nil, notes: ""))
        let blue = try site.networks.create(NetworkDraft(name: "Blue", adapter: nil, notes: ""))
        let vm = try site.vms.create(name: "web", notes: "", connectingTo: red.id)
        let nic = try #require(try site.store.read { try $0.nics(of: vm.id) }.first)
        return Setup(site: site, red: red, blue: blue, vm: vm, nic: nic)
    }

    func lease(_ network: NetworkID, _ mac: MACAddress, _ last: UInt8, _ site: SiteFixture) -> DHCPLease {
        DHCPLease(network: network, address: IPv4Address(192, 168, 131, last), mac: mac, clientID: [], hostName: nil, expires: site.clock.now().addingTimeInterval(3600))
    }

    @Test func afterAMoveTheVMPageShowsOnlyTheNewNetworksAddressAndTheOldLeaseIsMarked() throws {
        let s = try setup()
        try SQLiteLeaseStore(database: s.site.database).save([.bound(lease(s.red.id, s.nic.mac, 20, s.site))])
        #expect(s.site.get("/vms/\(s.vm.id.rawValue)").bodyText.contains("192.168.131.20 (DHCP"), "control: the address shows while it is on Red")
        try s.site.vms.configureNICs(of: s.vm.id, version: 1, [NICSetting(nicID: s.nic.id, networkID: s.blue.id, assignment: .dynamic)])
        let page = s.site.get("/vms/\(s.vm.id.rawValue)").bodyText
        #expect(!page.contains("192.168.131.20"), "a lease from Red is not the address of an adapter on Blue")
        let red = s.site.get("/networks/\(s.red.id.rawValue)").bodyText
        #expect(red.contains("192.168.131.20"))
        #expect(red.contains("<span class=\"badge warning\">adapter left</span>"))
    }

    @Test func eachPortSaysOneThing() throws {
        let s = try setup()
        let other = try s.site.vms.create(name: "loose", notes: "")
        let looseNIC = try #require(try s.site.store.read { try $0.nics(of: other.id) }.first)
        s.site.status.set(PortRuntimeStatus(kind: .nic(looseNIC.id), isAttached: true, detail: "Not connected to a network (a VM is attached)"), for: looseNIC.id)
        let loose = s.site.get("/vms/\(other.id.rawValue)").bodyText
        #expect(loose.contains(">Not connected to a network</span>"))
        #expect(!loose.contains(">Attached</span>"), "never “ATTACHED Not connected”")

        s.site.status.set(PortRuntimeStatus(kind: .nic(s.nic.id), isAttached: false, detail: "Waiting for the VM to connect"), for: s.nic.id)
        #expect(s.site.get("/vms/\(s.vm.id.rawValue)").bodyText.contains(">Waiting for the VM</span>"))
        s.site.status.set(PortRuntimeStatus(kind: .nic(s.nic.id), isAttached: false,
                                            detail: "The interface vnd1 was destroyed (its network namespace was deleted). Save this adapter on its VM's page, or restart vnetd, to create it again."), for: s.nic.id)
        let destroyed = s.site.get("/networks/\(s.red.id.rawValue)").bodyText
        #expect(destroyed.contains("<span class=\"badge warning\">Interface destroyed: its namespace was deleted</span>"))
        #expect(destroyed.contains("Save this adapter on its VM"))
    }

    @Test func theChartHasAScaleBothDirectionsAndSaysWhenThereWasNoTraffic() throws {
        let s = try setup()
        var status = NetworkRuntimeStatus(
            isRunning: true, detail: "Switching 2 ports.",
            ports: [PortRuntimeStatus(kind: .nic(s.nic.id), isAttached: true, detail: "Attached")],
            history: Array(repeating: TrafficSample(frames: 0, bytes: 0), count: 60), dhcp: DHCPRuntimeStatus())
        status.sentHistory = Array(repeating: TrafficSample(frames: 0, bytes: 0), count: 60)
        s.site.status.set(status, for: s.red.id)
        let quiet = s.site.get("/networks/\(s.red.id.rawValue)").bodyText
        #expect(quiet.contains("no traffic in the last 60 s"))
        #expect(!quiet.contains("no traffic yet"))
        #expect(quiet.contains("Switching 1 adapter port; the DHCP server is one more port on the switch."), "counts what the table shows")

        status.history[59] = TrafficSample(frames: 10, bytes: 2_000_000)
        status.sentHistory[59] = TrafficSample(frames: 20, bytes: 1_000_000)
        s.site.status.set(status, for: s.red.id)
        let busy = s.site.get("/networks/\(s.red.id.rawValue)").bodyText
        #expect(busy.contains("<span>2.0 MB/s</span><span>1.0 MB/s</span><span>0</span>"), "a scale: peak, half, zero")
        #expect(busy.contains("Received from ports: 2.0 MB/s (10 frames/s) now"))
        #expect(busy.contains("Sent to ports: 1.0 MB/s (20 frames/s) now"))
        #expect(busy.contains("60 s ago") && busy.contains(">now<"))
        #expect(!busy.contains("no traffic in the last 60 s"))
    }

    @Test func theEventViewerFiltersByTypeSeverityAndObjectAndPagesKeepTheFilter() throws {
        let s = try setup()
        for index in 0..<60 {
            try s.site.recorder.record(.vmDisconnected, EventSubject(kind: .virtualMachine, id: s.vm.id.rawValue, name: "web"), "disconnect \(index)")
        }
        try s.site.recorder.record(.uplinkLost, EventSubject(kind: .network, id: s.red.id.rawValue, name: "Red"), "uplink gone")
        let ports = s.site.get("/events?type=port").bodyText
        #expect(ports.contains("disconnect 59"))
        #expect(!ports.contains("uplink gone"))
        #expect(!ports.contains("Created a guest-only network"))
        #expect(ports.contains("href=\"/events?page=2&amp;type=port\""), "the next page keeps the filter")
        #expect(s.site.get("/events?page=2&type=port").bodyText.contains("disconnect 0"))

        let warnings = s.site.get("/events?level=warning").bodyText
        #expect(warnings.contains("uplink gone") && !warnings.contains("Created a guest-only network"))
        let red = s.site.get("/events?object=network:\(s.red.id.rawValue)").bodyText
        #expect(red.contains("uplink gone") && red.contains("Created a guest-only network “Red”.") && !red.contains("disconnect"))
        #expect(red.contains("Only events about <strong>Red</strong>"))
        #expect(s.site.get("/events").bodyText.contains("href=\"/events?object=vm:\(s.vm.id.rawValue)\""), "each object links to its own events")
        #expect(s.site.get("/events?type=%3Cscript%3E&level=nope&object=zzz").status == 200)
    }

    @Test func viewAllPagesCarryWhatAnAdministratorScansFor() throws {
        let s = try setup()
        var draft = DHCPDraft(try s.site.dhcp.settings(of: s.red.id))
        draft.isEnabled = true
        try s.site.dhcp.update(s.red.id, version: 0, draft)
        try SQLiteLeaseStore(database: s.site.database).save([.bound(lease(s.red.id, s.nic.mac, 33, s.site))])
        var status = NetworkRuntimeStatus(isRunning: true, detail: "", ports: [PortRuntimeStatus(kind: .nic(s.nic.id), isAttached: true, detail: "Attached")],
                                          history: [TrafficSample(frames: 5, bytes: 1500)])
        status.sentHistory = [TrafficSample(frames: 5, bytes: 1500)]
        s.site.status.set(status, for: s.red.id)
        let networks = s.site.get("/networks").bodyText
        #expect(networks.contains("192.168.131.16–192.168.131.254") || networks.contains("192.168.131.16–"), "the DHCP scope")
        #expect(networks.contains("1 of 1"), "ports attached of those connected")
        #expect(networks.contains("1.5 kB/s, 5 frames/s"), "traffic now")

        let vms = s.site.get("/vms").bodyText
        #expect(vms.contains("<a href=\"/networks/\(s.red.id.rawValue)\">Red</a>"))
        #expect(vms.contains(Labels_mac(s.nic.mac)))
        #expect(vms.contains("192.168.131.33"))
    }

    @Test func masterStatusListsWhatNeedsAttention() throws {
        let s = try setup()
        #expect(s.site.get("/").bodyText.contains("Nothing: every connected port is attached"))
        s.site.status.set(PortRuntimeStatus(kind: .nic(s.nic.id), isAttached: false, detail: "Waiting for the VM to connect"), for: s.nic.id)
        let waiting = s.site.get("/").bodyText
        #expect(waiting.contains("web, Virtual network adapter 1 on “Red”: Waiting for the VM"))

        try s.site.bindings.setBindings(bound: ["eth0"])
        let lan = try s.site.networks.create(NetworkDraft(name: "LAN", adapter: "eth0", notes: ""))
        s.site.status.set(NetworkRuntimeStatus(isRunning: true, detail: "", ports: [PortRuntimeStatus(kind: .uplink(adapter: "eth0"), isAttached: false, detail: "down")]), for: lan.id)
        #expect(s.site.get("/").bodyText.contains("“LAN”: uplink to eth0 is down"))

        var draft = DHCPDraft(try s.site.dhcp.settings(of: s.blue.id))
        draft.isEnabled = true
        try s.site.dhcp.update(s.blue.id, version: 0, draft)
        var dhcp = DHCPRuntimeStatus()
        dhcp.exhausted = 3
        s.site.status.set(NetworkRuntimeStatus(isRunning: true, detail: "", dhcp: dhcp), for: s.blue.id)
        #expect(s.site.get("/").bodyText.contains("3 DISCOVERs found no free address"))
    }
}

func Labels_mac(_ mac: MACAddress) -> String { mac.formatted(separator: "-", uppercase: true) }
