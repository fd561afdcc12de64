import Domain
import Foundation
import Packets
import Testing

@Suite("Host and NAT networks, port forwards, against SQLite")
struct HostNetworkRulesTests {
    struct FixedPorts: HostPortsReading {
        func listener(_ proto: PortForwardProtocol, port: Int, address: IPv4Address?) -> String? {
            proto == .tcp && port == 22 ? "sshd (pid 812) on 0.0.0.0:22" : nil
        }
    }

    func forwards(_ fx: DomainFixture) -> PortForwardService {
        PortForwardService(store: fx.store, clock: fx.clock, dataplane: fx.dataplane, hostPorts: FixedPorts())
    }

    @Test func aNATNetworkGetsAStoredScopeWithItsServerOnAndAKeptULA() throws {
        let fx = try DomainFixture()
        let network = try fx.networks.create(NetworkDraft(name: "Outside", adapter: nil, notes: "", kind: .nat, host: HostInterfaceDraft(ipv6: "auto")))
        #expect(network.kind == .nat(outbound: nil))
        let scope = try #require(try fx.store.read { try $0.dhcpSettings(of: network.id) })
        #expect(scope.isEnabled)
        #expect(network.hostInterface.effectiveAddress(in: scope) == IPv4Address(value: scope.network.value + 1))
        let prefix = try #require(network.hostInterface.ipv6Prefix)
        #expect(prefix.isULA)
        let stored = try #require(try fx.store.read { try $0.network(network.id) })
        #expect(stored == network)
        // "auto" again keeps the prefix the network has.
        let renamed = try fx.networks.update(network.id, version: network.version,
                                             NetworkDraft(name: "Outside 2", adapter: nil, notes: "", kind: .nat, host: HostInterfaceDraft(ipv6: "auto")))
        #expect(renamed.hostInterface.ipv6Prefix == prefix)
        #expect(fx.dataplane.changes.contains(.dhcpChanged(network.id, { var s = scope; s.version = 1; return s }())))
    }

    @Test func aHostAddressMustBeOutsideTheRangeAndInsideTheScope() throws {
        let fx = try DomainFixture()
        let network = try fx.networks.create(NetworkDraft(name: "Host", adapter: nil, notes: "", kind: .host))
        let scope = try #require(try fx.store.read { try $0.dhcpSettings(of: network.id) })
        for (typed, expected) in [
            (IPv4Address(value: scope.rangeStart.value + 3).description, "is in the DHCP range"),
            ("10.99.99.1", "is not a host address of the network's DHCP scope"),
            (scope.network.description, "is not a host address"),
            ("300.1.1.1", "is not an IPv4 address"),
        ] {
            #expect {
                try fx.networks.update(network.id, version: network.version,
                                       NetworkDraft(name: "Host", adapter: nil, notes: "", kind: .host, host: HostInterfaceDraft(address: typed)))
            } throws: { error in
                (error as? ValidationFailure)?.problems.contains { $0.field == "hostAddress" && $0.message.contains(expected) } == true
            }
        }
        let good = IPv4Address(value: scope.network.value + 2)
        let saved = try fx.networks.update(network.id, version: network.version,
                                           NetworkDraft(name: "Host", adapter: nil, notes: "", kind: .host, host: HostInterfaceDraft(address: good.description)))
        #expect(saved.hostInterface.effectiveAddress(in: scope) == good)
        #expect(try fx.events().first?.message.contains("Host address of “Host” now \(good)") == true)
    }

    @Test func aNATOutboundAdapterMustBePresentAndPrefixesMustBeSixtyFours() throws {
        let fx = try DomainFixture()
        #expect(throws: ValidationFailure.self) {
            try fx.networks.create(NetworkDraft(name: "N", adapter: nil, notes: "", kind: .nat, host: HostInterfaceDraft(outbound: "wlan9")))
        }
        for bad in ["fe80::/64", "fd00:1:2:3::/48", "fd00:1:2:3::1/64", "nonsense"] {
            #expect(throws: ValidationFailure.self) {
                try fx.networks.create(NetworkDraft(name: "N", adapter: nil, notes: "", kind: .nat, host: HostInterfaceDraft(ipv6: bad)))
            }
        }
        let network = try fx.networks.create(NetworkDraft(name: "N", adapter: nil, notes: "", kind: .nat,
                                                          host: HostInterfaceDraft(ipv6: "FD12:3456:789A:1::/64", outbound: "eth1")))
        #expect(network.kind == .nat(outbound: "eth1"))
        #expect(network.hostInterface.ipv6Prefix?.description == "fd12:3456:789a:1::/64")
        #expect(try fx.store.read { try $0.network(network.id) } == network)
    }

    @Test func ipv6PrefixTextRoundTrips() {
        #expect(IPv6Prefix(parsing: "2001:db8:0:0::/64")?.description == "2001:db8::/64")
        #expect(IPv6Prefix(parsing: "fd00:0:0:1::")?.description == "fd00:0:0:1::/64")
        #expect(IPv6Prefix.format(IPv6Prefix(parsing: "fd00:0:0:1::/64")!.hostAddress) == "fd00:0:0:1::1")
        #expect(IPv6Prefix(parsing: "1:2:3:4:5:6:7:8:9") == nil)
        #expect(IPv6Prefix(parsing: "fd00::1::/64") == nil)
        var random = SystemRandomNumberGenerator()
        for _ in 0..<50 { #expect(IPv6Prefix.generateULA(using: &random).isULA) }
    }

    @Test func interfaceNamesFitIFNAMSIZ() {
        let name = HostInterfaceSettings.interfaceName(for: NetworkID.generate())
        #expect(name.count == 15 && name.hasPrefix("vnd"))
    }

    @Test func portForwardsAreValidatedAndClashesNamed() throws {
        let fx = try DomainFixture()
        let nat = try fx.networks.create(NetworkDraft(name: "NAT", adapter: nil, notes: "", kind: .nat))
        let vm = try fx.vms.create(name: "web", notes: "", connectingTo: nat.id)
        let nic = try #require(try fx.nics(vm).first)
        let service = forwards(fx)
        let forward = try service.add(to: nat.id, PortForwardDraft(proto: "tcp", hostAddress: "", hostPort: "8080", mac: nic.mac.description, guestPort: "80"))
        #expect(try service.forwards(of: nat.id) == [forward])
        #expect {
            try service.add(to: nat.id, PortForwardDraft(proto: "tcp", hostAddress: "10.0.0.1", hostPort: "8080", mac: nic.mac.description, guestPort: "81"))
        } throws: { error in
            (error as? ValidationFailure)?.problems.first?.message.contains("already forwarded on “NAT”") == true
        }
        #expect {
            try service.add(to: nat.id, PortForwardDraft(proto: "tcp", hostAddress: "", hostPort: "22", mac: nic.mac.description, guestPort: "22"))
        } throws: { error in
            (error as? ValidationFailure)?.problems.first?.message.contains("sshd (pid 812)") == true
        }
        for bad in [("sctp", "1", "1"), ("tcp", "0", "1"), ("tcp", "65536", "1"), ("udp", "53", "x")] {
            #expect(throws: ValidationFailure.self) {
                try service.add(to: nat.id, PortForwardDraft(proto: bad.0, hostAddress: "", hostPort: bad.1, mac: nic.mac.description, guestPort: bad.2))
            }
        }
        #expect(throws: ValidationFailure.self) {
            try service.add(to: nat.id, PortForwardDraft(proto: "udp", hostAddress: "", hostPort: "53", mac: "00:03:ff:00:00:99", guestPort: "53"))
        }
        // The same port over UDP is another forward.
        try service.add(to: nat.id, PortForwardDraft(proto: "udp", hostAddress: "", hostPort: "8080", mac: nic.mac.description, guestPort: "80"))
        try service.remove(forward.id, from: nat.id)
        #expect(try service.forwards(of: nat.id).map(\.proto) == [.udp])
        // Export carries them; the network goes, and its forwards with it.
        let definition = try fx.networks.definition(of: nat.id)
        #expect(definition.portForwards.count == 1)
        try fx.networks.remove(nat.id)
        #expect(try fx.store.read { try $0.allPortForwards() }.isEmpty)
        let imported = try fx.networks.importDefinition(definition)
        #expect(try service.forwards(of: imported.id).map(\.hostPort) == [8080])
    }

    @Test func aGuestOnlyNetworkBecomingNATGetsAScopeAndBackKeepsIt() throws {
        let fx = try DomainFixture()
        let lab = try fx.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        #expect(try fx.store.read { try $0.dhcpSettings(of: lab.id) } == nil)
        let nat = try fx.networks.update(lab.id, version: lab.version, NetworkDraft(name: "Lab", adapter: nil, notes: "", kind: .nat))
        let scope = try #require(try fx.store.read { try $0.dhcpSettings(of: lab.id) })
        #expect(scope.isEnabled, "its VMs get addresses from the host's network at once")
        #expect(fx.dataplane.changes.contains(.dhcpChanged(lab.id, scope)))
        #expect(try fx.events().first?.message.contains("is now NAT through the default route's interface") == true)
        let back = try fx.networks.update(lab.id, version: nat.version, NetworkDraft(name: "Lab", adapter: nil, notes: "", kind: .guestOnly))
        #expect(back.kind == .guestOnly)
        #expect(try fx.store.read { try $0.dhcpSettings(of: lab.id) } == scope, "the scope stays as it is")
    }

    @Test func onlyNATNetworksForward() throws {
        let fx = try DomainFixture()
        let host = try fx.networks.create(NetworkDraft(name: "H", adapter: nil, notes: "", kind: .host))
        #expect(throws: ValidationFailure.self) {
            try forwards(fx).add(to: host.id, PortForwardDraft(proto: "tcp", hostAddress: "", hostPort: "8080", mac: "00:03:ff:00:00:01", guestPort: "80"))
        }
    }
}
