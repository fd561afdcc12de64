import AdminSite
import Domain
import Foundation
import Packets
import Testing
import WebServer

/// Issue 13 item 1, the removal part: "Remove adapter…" on a VM's adapters page is a button of
/// the page's form, so what was typed is neither lost by leaving the page nor saved unasked.
@Suite("Removing an adapter keeps what was typed")
struct AdapterRemovalTests {
    struct Setup {
        let site: SiteFixture
        let red: VirtualNetwork
        let vm: VirtualMachine
        let first: VirtualNIC
        let second: VirtualNIC
        var path: String { "/vms/\(vm.id.rawValue)/nics" }
    }

    func setup() throws -> Setup {
        let site = try SiteFixture()
        let red = try site.networks.create(NetworkDraft(name: "Red", adapter: nil, notes: ""))
        let vm = try site.vms.create(name: "web", notes: "")
        _ = try site.vms.addNIC(to: vm.id, version: 1)
        let nics = try site.store.read { try $0.nics(of: vm.id) }
        return Setup(site: site, red: red, vm: vm, first: nics[0], second: nics[1])
    }

    /// The form as a browser posts it: adapter 1 moved to Red with a static MAC typed (not saved yet).
    func typed(_ s: Setup, action: String, version: Int) -> [(String, String)] {
        [("action", action), ("version", "\(version)"),
         ("nic-1-id", s.first.id.rawValue), ("nic-1-network", s.red.id.rawValue), ("nic-1-mac-mode", "static"),
         ("nic-1-mac", "02-00-00-00-00-11"), ("nic-1-backend", "dgram"),
         ("nic-2-id", s.second.id.rawValue), ("nic-2-network", ""), ("nic-2-mac-mode", "dynamic"), ("nic-2-mac", s.second.mac.formatted(separator: "-", uppercase: true)),
         ("nic-2-backend", "socket")]
    }

    func fields(of page: String) -> [(String, String)] {
        page.matches(of: /<input type="hidden" name="(nic-[^"]+)" value="([^"]*)">/).map { (String($0.output.1), String($0.output.2)) }
    }

    @Test func theRemoveButtonIsPartOfTheFormAndAsksWithTheEditsCarried() throws {
        let s = try setup()
        let version = try #require(try s.site.store.read { try $0.vm(s.vm.id) }?.version)
        let form = s.site.get(s.path).bodyText
        #expect(!form.contains("?remove="), "no link that leaves the page")
        #expect(form.contains("<button type=\"submit\" name=\"action\" value=\"remove-2\" class=\"secondary\">Remove Virtual network adapter 2…</button>"))

        let ask = s.site.post(s.path, typed(s, action: "remove-2", version: version))
        #expect(ask.status == 200)
        #expect(ask.bodyText.contains("Remove <strong>Virtual network adapter 2</strong>"))
        let carried = fields(of: ask.bodyText)
        #expect(carried.contains { $0 == ("nic-1-mac", "02-00-00-00-00-11") } && carried.contains { $0 == ("nic-1-network", s.red.id.rawValue) },
                "what was typed goes along: \(carried)")
        let stored = try #require(try s.site.store.read { try $0.nic(s.first.id) })
        #expect(stored.networkID == nil && stored.assignment == .dynamic, "asking saves nothing")
        #expect(try s.site.store.read { try $0.nics(of: s.vm.id) }.count == 2, "and removes nothing")

        // Back: the adapters page as it was typed.
        let back = s.site.post(s.path, [("action", "edit"), ("version", "\(version)"), ("nic", s.second.id.rawValue)] + carried)
        #expect(back.status == 200)
        #expect(back.bodyText.contains("value=\"02-00-00-00-00-11\""), "the typed MAC is back in its field")
        #expect(back.bodyText.contains("value=\"\(s.red.id.rawValue)\" selected"), "and the typed network")
        #expect(try s.site.store.read { try $0.nic(s.first.id) }?.assignment == .dynamic, "still nothing saved")
    }

    @Test func confirmingSavesTheOtherAdaptersThenRemoves() throws {
        let s = try setup()
        let version = try #require(try s.site.store.read { try $0.vm(s.vm.id) }?.version)
        let carried = fields(of: s.site.post(s.path, typed(s, action: "remove-2", version: version)).bodyText)
        let removed = s.site.post(s.path, [("action", "remove"), ("version", "\(version)"), ("nic", s.second.id.rawValue)] + carried)
        #expect(removed.status == 303)
        let nics = try s.site.store.read { try $0.nics(of: s.vm.id) }
        #expect(nics.map(\.id) == [s.first.id], "adapter 2 is gone")
        #expect(nics.first?.networkID == s.red.id && nics.first?.assignment == .static && nics[0].mac == MACAddress(parsing: "02:00:00:00:00:11"),
                "adapter 1 has what was typed")
        let page = removed.header("Location").map { s.site.get($0).bodyText } ?? ""
        #expect(page.contains("Removed Virtual network adapter 2"))
    }

    @Test func aRefusedEditRemovesNothingAndKeepsTheInput() throws {
        let s = try setup()
        let version = try #require(try s.site.store.read { try $0.vm(s.vm.id) }?.version)
        var carried = fields(of: s.site.post(s.path, typed(s, action: "remove-2", version: version)).bodyText)
        carried = carried.map { $0.0 == "nic-1-mac" ? ($0.0, "01-00-5E-00-00-01") : $0 }
        let refused = s.site.post(s.path, [("action", "remove"), ("version", "\(version)"), ("nic", s.second.id.rawValue)] + carried)
        #expect(refused.status == 422)
        #expect(refused.bodyText.contains("value=\"01-00-5E-00-00-01\""))
        #expect(try s.site.store.read { try $0.nics(of: s.vm.id) }.count == 2)
    }
}
