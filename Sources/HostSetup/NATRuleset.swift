import Packets

/// vnetd's nftables table, `inet vnetd`, as text for libnftables: built from what the host and
/// NAT networks need, with no I/O, so tests read exactly what would be installed.
///
/// Policy: the whole table is replaced in one transaction (`add table` makes a missing table
/// exist so `delete table` never fails, then the new table is declared), so applying it again is
/// harmless and a table left by a killed vnetd is taken over. No other table is named. Counters
/// are named objects carrying their values across replacements.
///
/// Anti-spoofing: a packet arriving on a network's host interface whose source is not the
/// network's (its IPv4 subnet, or 0.0.0.0 for a DHCP client; its /64, link-local or :: for
/// IPv6) is dropped and counted before anything else sees it (prerouting, raw priority), so no
/// VM can pose as an upstream resolver or any other host to the host's sockets or to the NAT.
public struct NATRuleset: Sendable, Equatable {
    public static let family = "inet"
    public static let table = "vnetd"

    public struct Network: Sendable, Equatable {
        /// Short, unique, [0-9a-f]: names the network's counters.
        public var tag: String
        /// The host interface on the network.
        public var interface: String
        public var subnet: IPv4Address
        public var prefixLength: Int
        /// The network's /64 as text (`fd12:3456:789a:1::/64`), masqueraded too on NAT networks.
        public var ipv6Prefix: String?
        /// nil: a host network (nothing forwarded beyond the host); else the interface VMs' traffic leaves by.
        public var outbound: String?
        public var forwards: [Forward]

        public init(tag: String, interface: String, subnet: IPv4Address, prefixLength: Int, ipv6Prefix: String?, outbound: String?, forwards: [Forward]) {
            self.tag = tag
            self.interface = interface
            self.subnet = subnet
            self.prefixLength = prefixLength
            self.ipv6Prefix = ipv6Prefix
            self.outbound = outbound
            self.forwards = forwards
        }
    }

    public struct Forward: Sendable, Equatable {
        public var id: Int64
        /// `tcp` or `udp`.
        public var proto: String
        /// nil: every local address of the host.
        public var hostAddress: IPv4Address?
        public var hostPort: Int
        /// nil: the VM has no address now; the rule is left out (and counted as waiting).
        public var target: IPv4Address?
        public var targetPort: Int

        public init(id: Int64, proto: String, hostAddress: IPv4Address?, hostPort: Int, target: IPv4Address?, targetPort: Int) {
            self.id = id
            self.proto = proto
            self.hostAddress = hostAddress
            self.hostPort = hostPort
            self.target = target
            self.targetPort = targetPort
        }
    }

    public struct Counter: Sendable, Equatable {
        public var packets: UInt64
        public var bytes: UInt64
        public init(packets: UInt64, bytes: UInt64) {
            self.packets = packets
            self.bytes = bytes
        }
    }

    public var networks: [Network]

    public init(networks: [Network]) {
        self.networks = networks
    }

    /// Every packet a network's VMs send out (the forward chain sees them all).
    public static func masqueradeCounter(_ tag: String, ipv6: Bool) -> String { "masq\(ipv6 ? 6 : 4)_\(tag)" }
    /// Connections masqueraded: a nat chain sees only the first packet of each.
    public static func connectionCounter(_ tag: String, ipv6: Bool) -> String { "conn\(ipv6 ? 6 : 4)_\(tag)" }
    public static func forwardCounter(_ id: Int64) -> String { "fwd_\(id)" }
    /// Packets dropped on the host interface for a source address that is not the network's.
    public static func spoofCounter(_ tag: String, ipv6: Bool) -> String { "spoof\(ipv6 ? 6 : 4)_\(tag)" }

    /// Every counter the table declares.
    public var counterNames: [String] {
        networks.flatMap { network -> [String] in
            let spoofed = [Self.spoofCounter(network.tag, ipv6: false), Self.spoofCounter(network.tag, ipv6: true)]
            guard network.outbound != nil else { return spoofed }
            var names = spoofed
            names += [Self.masqueradeCounter(network.tag, ipv6: false), Self.connectionCounter(network.tag, ipv6: false)]
            if network.ipv6Prefix != nil {
                names += [Self.masqueradeCounter(network.tag, ipv6: true), Self.connectionCounter(network.tag, ipv6: true)]
            }
            return names + network.forwards.filter { $0.target != nil }.map { Self.forwardCounter($0.id) }
        }
    }

    /// The commands that install the table, counters starting from `counters` (by name).
    public func commands(counters: [String: Counter] = [:]) -> String {
        var lines = ["add table \(Self.family) \(Self.table)", "delete table \(Self.family) \(Self.table)", "table \(Self.family) \(Self.table) {"]
        for name in counterNames {
            let value = counters[name] ?? Counter(packets: 0, bytes: 0)
            lines.append("\tcounter \(name) { packets \(value.packets) bytes \(value.bytes) }")
        }
        var postrouting: [String] = [], prerouting: [String] = [], output: [String] = [], forward: [String] = [], screen: [String] = []
        for network in networks {
            let inside = quoted(network.interface)
            let subnet = "\(network.subnet)/\(network.prefixLength)"
            screen.append("iifname \(inside) ip saddr != { 0.0.0.0, \(subnet) } counter name \(Self.spoofCounter(network.tag, ipv6: false)) drop")
            let own6 = ["::", "fe80::/10"] + (network.ipv6Prefix.map { [$0] } ?? [])
            screen.append("iifname \(inside) ip6 saddr != { \(own6.joined(separator: ", ")) } counter name \(Self.spoofCounter(network.tag, ipv6: true)) drop")
            // Nothing from outside enters a network except replies and forwarded ports.
            forward.append("oifname \(inside) ct state established,related accept")
            if let outbound = network.outbound {
                let out = quoted(outbound)
                forward.append("oifname \(inside) ct status dnat accept")
                forward.append("iifname \(inside) oifname \(out) ip saddr \(subnet) counter name \(Self.masqueradeCounter(network.tag, ipv6: false)) accept")
                postrouting.append("oifname \(out) ip saddr \(subnet) ip daddr != \(subnet) counter name \(Self.connectionCounter(network.tag, ipv6: false)) masquerade")
                if let prefix = network.ipv6Prefix {
                    forward.append("iifname \(inside) oifname \(out) ip6 saddr \(prefix) counter name \(Self.masqueradeCounter(network.tag, ipv6: true)) accept")
                    postrouting.append("oifname \(out) ip6 saddr \(prefix) ip6 daddr != \(prefix) counter name \(Self.connectionCounter(network.tag, ipv6: true)) masquerade")
                }
                for rule in network.forwards {
                    guard let target = rule.target else { continue }
                    let match = (rule.hostAddress.map { "ip daddr \($0)" } ?? "fib daddr type local") + " \(rule.proto) dport \(rule.hostPort)"
                    let action = "counter name \(Self.forwardCounter(rule.id)) dnat ip to \(target):\(rule.targetPort)"
                    prerouting.append("iifname != \(inside) \(match) \(action)")
                    output.append("\(match) \(action)")
                }
            }
            forward.append("oifname \(inside) drop")
            forward.append("iifname \(inside) drop")
        }
        func chain(_ name: String, _ hook: String, _ rules: [String]) {
            guard !rules.isEmpty else { return }
            lines.append("\tchain \(name) {")
            lines.append("\t\t\(hook)")
            lines += rules.map { "\t\t" + $0 }
            lines.append("\t}")
        }
        chain("screen", "type filter hook prerouting priority raw; policy accept;", screen)
        chain("prerouting", "type nat hook prerouting priority dstnat; policy accept;", prerouting)
        chain("output", "type nat hook output priority -100; policy accept;", output)
        chain("postrouting", "type nat hook postrouting priority srcnat; policy accept;", postrouting)
        chain("forward", "type filter hook forward priority filter; policy accept;", forward)
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }

    /// Removes the table (a missing one is not an error).
    public static let removal = "add table \(family) \(table)\ndelete table \(family) \(table)\n"

    /// Interface names come from vnetd or from the host's own list, but are quoted anyway, and a
    /// name nftables could misread (quotes, backslashes, controls) is refused by the caller.
    func quoted(_ name: String) -> String { "\"\(name)\"" }

    /// True for a name the table may carry: what Linux allows in an interface name, minus quotes
    /// and backslashes.
    public static func isSafeInterfaceName(_ name: String) -> Bool {
        (1...15).contains(name.utf8.count) && name.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") && $0 != UInt8(ascii: "/") }
    }

    /// Reads `counter NAME { packets P bytes B }` objects from `nft list counters` output.
    public static func parseCounters(_ listing: String) -> [String: Counter] {
        var result: [String: Counter] = [:]
        var name: String?
        for raw in listing.split(separator: "\n") {
            let words = raw.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if words.first == "counter", words.count >= 2 {
                name = String(words[1])
            }
            if let packets = words.firstIndex(of: "packets"), let bytes = words.firstIndex(of: "bytes"), let current = name,
               packets + 1 < words.count, bytes + 1 < words.count,
               let p = UInt64(words[packets + 1]), let b = UInt64(words[bytes + 1]) {
                result[current] = Counter(packets: p, bytes: b)
                name = nil
            }
        }
        return result
    }
}
