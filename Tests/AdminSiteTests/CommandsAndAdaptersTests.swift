import AdminSite
import Domain
import Foundation
import Packets
import Testing
import TestSupport
import WebServer

/// Issue 13, items 10 and 12: copy-ready commands; the Host Adapters page says what it means.
@Suite("Copy-ready commands and the Host Adapters page")
struct CommandsAndAdaptersTests {
    @Test func theVMPageShowsOneWrappedQEMUCommandForAllItsAdapters() throws {
        let site = try SiteFixture()
        let lab = try site.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        let vm = try site.vms.create(name: "web", notes: "", connectingTo: lab.id)
        let second = try site.vms.addNIC(to: vm.id, version: 1)
        let first = try #require(try site.store.read { try $0.nics(of: vm.id) }.first)
        site.status.set(PortRuntimeStatus(kind: .nic(first.id), isAttached: false, detail: "Waiting for the VM to connect", endpoint: "/run/vnetd/a.sock"), for: first.id)
        site.status.set(PortRuntimeStatus(kind: .nic(second.id), isAttached: false, detail: "Waiting for the VM to connect", endpoint: "/run/vnetd/b.sock"), for: second.id)
        let html = site.get("/vms/\(vm.id.rawValue)").bodyText
        #expect(html.contains("<pre id=\"command-qemu\" class=\"copyable\" tabindex=\"0\">qemu-system-x86_64 \\\n"))
        #expect(html.contains("  -netdev stream,id=net1,server=off,addr.type=unix,addr.path=/run/vnetd/a.sock \\\n  -device virtio-net-pci,netdev=net1,mac=\(first.mac) \\\n  -netdev stream,id=net2,server=off,addr.type=unix,addr.path=/run/vnetd/b.sock \\\n  -device virtio-net-pci,netdev=net2,mac=\(second.mac)</pre>"),
                "one option per line, every adapter in the one command")
        #expect(html.contains("<button type=\"button\" class=\"copy secondary\" data-copy=\"command-qemu\" hidden>Copy</button>"), "the button appears only with script")
        #expect(html.contains("<script src=\"/static/js/copy.js\" defer></script>"))
        #expect(site.get("/static/js/copy.js").status == 200)
    }

    @Test func theCheckboxSaysWhatItMeansAndPseudoDevicesAreOfferedOnlyOnRequest() throws {
        let site = try SiteFixture()
        site.adapters.plug(DiscoveredAdapter(name: "ifb0", mac: nil, isUp: false, hasCarrier: false, speedMbps: nil, isWireless: false))
        site.adapters.plug(DiscoveredAdapter(name: "dummy0", mac: nil, isUp: true, hasCarrier: true, speedMbps: nil, isWireless: false))
        let page = site.get("/adapters").bodyText
        #expect(page.contains("Virtual Machine Network Services on for <strong>eth0</strong>"))
        #expect(!page.contains("value=\"ifb0\"") && !page.contains("value=\"dummy0\""))
        #expect(page.contains("href=\"/adapters?all=1\""), "the way to see them")
        let all = site.get("/adapters?all=1").bodyText
        #expect(all.contains("value=\"ifb0\"") && all.contains("value=\"dummy0\""))
    }

    @Test func aRefusedUnbindShowsTheBoxAsItReallyIs() throws {
        let site = try SiteFixture()
        #expect(site.post("/adapters", [("bind", "eth0")]).status == 303)
        try site.networks.create(NetworkDraft(name: "LAN", adapter: "eth0", notes: ""))
        let refused = site.post("/adapters", [("bind", "eth1")])
        #expect(refused.status == 422)
        #expect(refused.bodyText.contains("name=\"bind\" value=\"eth0\" checked"), "eth0 is still on: the box says so")
        #expect(refused.bodyText.contains("name=\"bind\" value=\"eth1\" checked"), "the other choice is kept")
    }
}
