import HostSetup
import Packets
import Testing

@Suite("vnetd's nftables table, as text")
struct NATRulesetTests {
    let nat = NATRuleset.Network(
        tag: "0a1b2c3d4e5", interface: "vndn0a1b2c3d4e5", subnet: IPv4Address(192, 168, 131, 0), prefixLength: 24,
        ipv6Prefix: "fd12:3456:789a:1::/64", outbound: "eth0",
        forwards: [
            NATRuleset.Forward(id: 7, proto: "tcp", hostAddress: nil, hostPort: 8080, target: IPv4Address(192, 168, 131, 16), targetPort: 80),
            NATRuleset.Forward(id: 8, proto: "udp", hostAddress: IPv4Address(203, 0, 113, 1), hostPort: 5353, target: nil, targetPort: 53),
        ])
    let host = NATRuleset.Network(tag: "ffff0000111", interface: "vndnffff0000111", subnet: IPv4Address(10, 131, 0, 0), prefixLength: 24,
                                  ipv6Prefix: nil, outbound: nil, forwards: [])

    @Test func theTableIsReplacedWholeAndNamesNoOtherTable() {
        let text = NATRuleset(networks: [nat, host]).commands(counters: ["masq4_0a1b2c3d4e5": .init(packets: 5, bytes: 420)])
        let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(Array(lines.prefix(3)) == ["add table inet vnetd", "delete table inet vnetd", "table inet vnetd {"])
        #expect(lines.filter { $0.contains("table ") }.allSatisfy { $0.contains("inet vnetd") })
        #expect(lines.contains("counter masq4_0a1b2c3d4e5 { packets 5 bytes 420 }"))
        #expect(lines.contains("counter masq6_0a1b2c3d4e5 { packets 0 bytes 0 }"))
        #expect(lines.contains(#"oifname "eth0" ip saddr 192.168.131.0/24 ip daddr != 192.168.131.0/24 counter name conn4_0a1b2c3d4e5 masquerade"#))
        #expect(lines.contains(#"oifname "eth0" ip6 saddr fd12:3456:789a:1::/64 ip6 daddr != fd12:3456:789a:1::/64 counter name conn6_0a1b2c3d4e5 masquerade"#))
        // Every packet out is counted where all of them pass: the forward chain.
        #expect(lines.contains(#"iifname "vndn0a1b2c3d4e5" oifname "eth0" ip saddr 192.168.131.0/24 counter name masq4_0a1b2c3d4e5 accept"#))
        #expect(lines.contains(#"iifname "vndn0a1b2c3d4e5" oifname "eth0" ip6 saddr fd12:3456:789a:1::/64 counter name masq6_0a1b2c3d4e5 accept"#))
        #expect(lines.contains(#"iifname != "vndn0a1b2c3d4e5" fib daddr type local tcp dport 8080 counter name fwd_7 dnat ip to 192.168.131.16:80"#))
        // A forward whose VM has no address yet installs nothing.
        #expect(!text.contains("dport 5353"))
        // A host network forwards nothing: only replies come in, nothing goes out through it.
        #expect(lines.contains(#"oifname "vndnffff0000111" drop"#))
        #expect(lines.contains(#"iifname "vndnffff0000111" drop"#))
        #expect(!text.contains("10.131.0.0/24 counter"))
        #expect(text.hasSuffix("}\n"))
    }

    @Test func packetsFromAHostInterfaceWithASourceNotTheNetworksAreDroppedAndCountedFirst() {
        let text = NATRuleset(networks: [nat, host]).commands(counters: ["spoof4_ffff0000111": .init(packets: 3, bytes: 180)])
        let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        // Before any other hook (raw priority in prerouting), on every network, host networks too.
        guard let start = lines.firstIndex(of: "chain screen {") else {
            Issue.record("no screening chain: \(text)")
            return
        }
        #expect(lines[start + 1] == "type filter hook prerouting priority raw; policy accept;")
        #expect(lines.contains(#"iifname "vndn0a1b2c3d4e5" ip saddr != { 0.0.0.0, 192.168.131.0/24 } counter name spoof4_0a1b2c3d4e5 drop"#))
        #expect(lines.contains(#"iifname "vndn0a1b2c3d4e5" ip6 saddr != { ::, fe80::/10, fd12:3456:789a:1::/64 } counter name spoof6_0a1b2c3d4e5 drop"#))
        #expect(lines.contains(#"iifname "vndnffff0000111" ip saddr != { 0.0.0.0, 10.131.0.0/24 } counter name spoof4_ffff0000111 drop"#))
        // Without a /64, only link-local (and DAD's ::) IPv6 comes in from the network.
        #expect(lines.contains(#"iifname "vndnffff0000111" ip6 saddr != { ::, fe80::/10 } counter name spoof6_ffff0000111 drop"#))
        #expect(lines.contains("counter spoof4_ffff0000111 { packets 3 bytes 180 }"), "the count survives a replacement")
        #expect(lines.contains("counter spoof6_0a1b2c3d4e5 { packets 0 bytes 0 }"))
    }

    @Test func countersAreReadBackFromTheListing() {
        let listing = """
            table inet vnetd {
            \tcounter masq4_0a1b2c3d4e5 {
            \t\tpackets 12 bytes 3456
            \t}
            \tcounter fwd_7 {
            \t\tpackets 1 bytes 60
            \t}
            }
            """
        #expect(NATRuleset.parseCounters(listing) == ["masq4_0a1b2c3d4e5": .init(packets: 12, bytes: 3456), "fwd_7": .init(packets: 1, bytes: 60)])
    }

    @Test func interfaceNamesThatCouldBreakTheTextAreRefused() {
        #expect(NATRuleset.isSafeInterfaceName("eth0.10"))
        for bad in ["", "a\"b", "a\\b", "with space", String(repeating: "x", count: 16), "a\nb"] {
            #expect(!NATRuleset.isSafeInterfaceName(bad))
        }
    }

    @Test func theDefaultRouteAndListenersAreReadFromProc() {
        let route = """
            Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
            eth1\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0
            eth0\t00000000\t010000CB\t0003\t0\t0\t100\t00000000\t0\t0\t0
            eth0\t000000CB\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0
            """
        #expect(HostRouting.parseDefaultRoute(route) == "eth0")
        let tcp = """
              sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
               0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1234 1 0000000000000000 100 0 0 10 0
               1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5678 1 0000000000000000 100 0 0 10 0
               2: 0100007F:1F90 0200007F:A000 01 00000000:00000000 00:00000000 00000000     0        0 9999 1 0000000000000000 100 0 0 10 0
            """
        let listeners = HostPorts.parse(tcp, proto: "tcp", ipv6: false)
        #expect(listeners.map(\.port) == [22, 8080])
        #expect(listeners[1].address == "127.0.0.1")
        #expect(listeners[0].isWildcard)
    }
}
