import AdminSite
import Domain
import Foundation
import Packets
import Testing
import WebServer

@Suite("Host and NAT network pages")
struct HostNetworkPagesTests {
    @Test func createOffersTheFourKindsAndMakesANATNetwork() throws {
        let site = try SiteFixture()
        let form = site.get("/networks/new").bodyText
        for label in ["None (Guest Only)", "External (bound to a host adapter)", "Host and guests", "NAT"] { #expect(form.contains(label)) }
        #expect(form.contains("nothing is forwarded beyond the host"))
        // A bad host address comes back with everything typed, 422.
        let refused = site.post("/networks", [("name", "Outside"), ("kind", "nat"), ("hostAddress", "10.9.9.9"), ("ipv6", "auto"), ("outbound", ""), ("notes", "kept")])
        #expect(refused.status == 422)
        #expect(refused.bodyText.contains("is not a host address of the network&#39;s DHCP scope") || refused.bodyText.contains("is not a host address of the network's DHCP scope"))
        #expect(refused.bodyText.contains("value=\"10.9.9.9\""))
        #expect(refused.bodyText.contains("value=\"nat\" checked"))
        #expect(try site.store.read { try $0.networkCount() } == 0)
        let created = site.post("/networks", [("name", "Outside"), ("kind", "nat"), ("hostAddress", ""), ("ipv6", "auto"), ("outbound", ""), ("notes", "")])
        let id = try #require(SiteFixture.createdID(created))
        let network = try #require(try site.store.read { try $0.network(NetworkID(rawValue: id)) })
        #expect(network.kind == .nat(outbound: nil))
        #expect(network.hostInterface.ipv6Prefix?.isULA == true)
        let page = site.get("/networks/\(id)").bodyText
        #expect(page.contains(HostInterfaceSettings.interfaceName(for: network.id)))
        #expect(page.contains("Port forwarding"))
        #expect(page.contains("NAT (out through the default route&#39;s interface)") || page.contains("NAT (out through the default route's interface)"))
    }

    /// The DHCP page of a host or NAT network must not offer a server address as if it were used:
    /// the server answers from the host interface's address, which is also router and DNS server.
    @Test func theDHCPPageOfANATNetworkSaysTheHostInterfaceIsServerRouterAndDNS() throws {
        let site = try SiteFixture()
        let guests = try site.networks.create(NetworkDraft(name: "Guests", adapter: nil, notes: ""))
        #expect(!site.get("/networks/\(guests.id.rawValue)/dhcp").bodyText.contains("Not used on this network"), "control: guest-only")
        let nat = try site.networks.create(NetworkDraft(name: "NAT", adapter: nil, notes: "", kind: .nat))
        let stored = try #require(try site.store.read { try $0.network(nat.id) })
        let address = stored.hostInterface.effectiveAddress(in: try site.dhcp.settings(of: nat.id)).description
        let page = site.get("/networks/\(nat.id.rawValue)/dhcp").bodyText
        #expect(page.contains("Not used on this network: its server answers from the host interface&#39;s address, \(address)")
                || page.contains("Not used on this network: its server answers from the host interface's address, \(address)"), "\(address)")
        #expect(page.contains("Left empty, guests get the host interface, \(address), as their router."))
        #expect(page.contains("name server on the host interface, \(address),"))
    }

    @Test func portForwardsAreAddedRefusedWithInputKeptAndRemoved() throws {
        let site = try SiteFixture()
        let nat = try site.networks.create(NetworkDraft(name: "NAT", adapter: nil, notes: "", kind: .nat))
        let vm = try site.vms.create(name: "web", notes: "", connectingTo: nat.id)
        let nic = try #require(try site.store.read { try $0.nics(of: vm.id) }.first)
        let refused = site.post("/networks/\(nat.id.rawValue)/forwards", [("proto", "tcp"), ("hostAddress", ""), ("hostPort", "22"), ("mac", nic.mac.description), ("guestPort", "2222")])
        #expect(refused.status == 422)
        #expect(refused.bodyText.contains("sshd (pid 812)"), "the owner of the port is named")
        #expect(refused.bodyText.contains("value=\"2222\""), "what was typed is kept")
        let bad = site.post("/networks/\(nat.id.rawValue)/forwards", [("proto", "udp"), ("hostAddress", "<b>"), ("hostPort", "70000"), ("mac", nic.mac.description), ("guestPort", "53")])
        #expect(bad.status == 422)
        #expect(bad.bodyText.contains("Enter a port number from 1 to 65535."))
        #expect(!bad.bodyText.contains("<b>"), "typed text is escaped")
        let added = site.post("/networks/\(nat.id.rawValue)/forwards", [("proto", "tcp"), ("hostAddress", ""), ("hostPort", "8080"), ("mac", nic.mac.description), ("guestPort", "80")])
        #expect(added.status == 303)
        let forwards = try site.store.read { try $0.portForwards(of: nat.id) }
        #expect(forwards.map(\.hostPort) == [8080])
        let page = site.get("/networks/\(nat.id.rawValue)").bodyText
        #expect(page.contains("every address:8080"))
        #expect(page.contains("web, Virtual network adapter 1"), "the forward names its VM and adapter")
        // Without the token nothing changes.
        let forged = site.post("/networks/\(nat.id.rawValue)/forwards/remove", [("forward", String(forwards[0].id))], withToken: false)
        #expect(forged.status == 403)
        #expect(site.post("/networks/\(nat.id.rawValue)/forwards/remove", [("forward", String(forwards[0].id))]).status == 303)
        #expect(try site.store.read { try $0.portForwards(of: nat.id) }.isEmpty)
    }

    @Test func aNATNetworkTravelsWithItsHostInterfaceAndForwards() throws {
        let site = try SiteFixture()
        let nat = try site.networks.create(NetworkDraft(name: "NAT", adapter: nil, notes: "", kind: .nat,
                                                      host: HostInterfaceDraft(address: "", ipv6: "fd12:3456:789a:1::/64", outbound: "eth0")))
        let vm = try site.vms.create(name: "web", notes: "", connectingTo: nat.id)
        let nic = try #require(try site.store.read { try $0.nics(of: vm.id) }.first)
        _ = site.post("/networks/\(nat.id.rawValue)/forwards", [("proto", "udp"), ("hostAddress", "203.0.113.1"), ("hostPort", "5353"), ("mac", nic.mac.description), ("guestPort", "53")])
        let export = site.get("/networks/\(nat.id.rawValue)/export")
        let text = String(decoding: export.body, as: UTF8.self)
        #expect(text.contains("<kind>nat</kind>"))
        #expect(text.contains("ipv6_prefix=\"fd12:3456:789a:1::/64\""))
        #expect(text.contains("<port_forward protocol=\"udp\" host_address=\"203.0.113.1\" host_port=\"5353\""))
        let other = try SiteFixture()
        let imported = other.postFile("/networks/import", field: "file", filename: "nat.xml", content: export.body)
        #expect(imported.status == 303)
        let copyID = try #require(SiteFixture.createdID(imported))
        let copy = try #require(try other.store.read { try $0.network(NetworkID(rawValue: copyID)) })
        #expect(copy.kind == .nat(outbound: "eth0"))
        #expect(copy.hostInterface == nat.hostInterface)
        #expect(try other.store.read { try $0.portForwards(of: copy.id) }.map { "\($0.proto.rawValue) \($0.hostAddress?.description ?? "") \($0.hostPort) \($0.mac) \($0.guestPort)" }
                == ["udp 203.0.113.1 5353 \(nic.mac) 53"])
        // A file that names an unknown kind is refused, nothing stored.
        let bad = Array(text.replacingOccurrences(of: "<kind>nat</kind>", with: "<kind>bridge</kind>").utf8)
        let refused = other.postFile("/networks/import", field: "file", filename: "bad.xml", content: bad)
        #expect(refused.status == 422)
        #expect(try other.store.read { try $0.networkCount() } == 1)
    }
}
