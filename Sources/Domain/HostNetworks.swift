import Foundation
import Packets

/// The host's own interface on a host ("Host and guests") or NAT network.
public struct HostInterfaceSettings: Sendable, Equatable, Hashable {
    /// The host's IPv4 address on the network; nil: the first host address of the DHCP scope,
    /// the address the DHCP server answers from and hands to VMs as their router and DNS server.
    public var address: IPv4Address?
    /// The network's IPv6 /64; nil: no IPv6. A ULA prefix is generated when the network becomes a
    /// host or NAT network and kept from then on.
    public var ipv6Prefix: IPv6Prefix?

    public init(address: IPv4Address? = nil, ipv6Prefix: IPv6Prefix? = nil) {
        self.address = address
        self.ipv6Prefix = ipv6Prefix
    }

    /// The address the interface gets in a scope (see `HostNetworkRules.effectiveAddress`).
    public func effectiveAddress(in scope: DHCPSettings) -> IPv4Address {
        HostNetworkRules.effectiveAddress(self, in: scope)
    }

    /// `vndn` and 11 hex digits of the network's id: 15 characters (IFNAMSIZ - 1), kept across
    /// renames, and under the prefix adapter discovery leaves out.
    public static func interfaceName(for network: NetworkID) -> String {
        "vndn" + String(network.rawValue.filter(\.isHexDigit).prefix(11))
    }
}

/// An IPv6 /64 prefix: the upper 64 bits of its addresses.
public struct IPv6Prefix: Sendable, Equatable, Hashable, CustomStringConvertible {
    public let high: UInt64

    public init(high: UInt64) { self.high = high }

    /// `fdxx:xxxx:xxxx:xxxx::/64` (RFC 4193: fd00::/8, 40 random bits, subnet 0).
    public static func generateULA<R: RandomNumberGenerator>(using random: inout R) -> IPv6Prefix {
        IPv6Prefix(high: 0xFD00_0000_0000_0000 | (random.next() & 0x00FF_FFFF_FFFF_0000))
    }

    public static func generateULA() -> IPv6Prefix {
        var random = SystemRandomNumberGenerator()
        return generateULA(using: &random)
    }

    /// Accepts `a:b:c:d::/64`, `a:b:c:d::` or `a:b:c:d:0:0:0:0/64`; the low 64 bits must be zero.
    public init?(parsing text: String) {
        var body = Substring(text.trimmingCharacters(in: .whitespaces).lowercased())
        if let slash = body.firstIndex(of: "/") {
            guard body[body.index(after: slash)...] == "64" else { return nil }
            body = body[..<slash]
        }
        guard let bytes = Self.parseAddress(body), bytes[8...].allSatisfy({ $0 == 0 }) else { return nil }
        high = bytes[..<8].reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// The prefix's address with interface identifier 1, the host's address on the network.
    public var hostAddress: [UInt8] { address(interfaceID: 1) }

    public func address(interfaceID: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: high >> (56 - 8 * $0)) } + (0..<8).map { UInt8(truncatingIfNeeded: interfaceID >> (56 - 8 * $0)) }
    }

    public var isULA: Bool { high >> 57 == 0x7E }
    public var isLinkLocal: Bool { high >> 54 == 0x3FA }
    public var isMulticast: Bool { high >> 56 == 0xFF }

    public var description: String { Self.format(hostAddress.prefix(8) + [0, 0, 0, 0, 0, 0, 0, 0]) + "/64" }

    /// RFC 5952 text for 16 bytes (Packets' `IPv6Address`); empty for anything but 16 bytes.
    public static func format(_ bytes: [UInt8]) -> String {
        IPv6Address(bytes: bytes)?.description ?? ""
    }

    static func parseAddress(_ text: Substring) -> [UInt8]? {
        let halves = text.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ part: String) -> [UInt16]? {
            if part.isEmpty { return [] }
            var out: [UInt16] = []
            for piece in part.split(separator: ":", omittingEmptySubsequences: false) {
                guard (1...4).contains(piece.count), piece.allSatisfy(\.isHexDigit), let value = UInt16(piece, radix: 16) else { return nil }
                out.append(value)
            }
            return out
        }
        guard let head = groups(halves[0]) else { return nil }
        var all = head
        if halves.count == 2 {
            guard let tail = groups(halves[1]), head.count + tail.count <= 7 else { return nil }
            all += Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        }
        guard all.count == 8 else { return nil }
        return all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
    }
}

public enum PortForwardProtocol: String, Sendable, CaseIterable {
    case tcp, udp
}

/// A port of the host forwarded to a port of a VM on a NAT network. The VM is named by its NIC's
/// MAC address, and its IPv4 address is looked up when rules are built: it follows the MAC's DHCP
/// reservation or lease, so a forward survives an address change and travels in an export.
public struct PortForward: Sendable, Equatable, Hashable {
    public var id: Int64
    public var network: NetworkID
    public var proto: PortForwardProtocol
    /// nil: every address of the host.
    public var hostAddress: IPv4Address?
    public var hostPort: Int
    public var mac: MACAddress
    public var guestPort: Int

    public init(id: Int64 = 0, network: NetworkID, proto: PortForwardProtocol, hostAddress: IPv4Address?, hostPort: Int, mac: MACAddress, guestPort: Int) {
        self.id = id
        self.network = network
        self.proto = proto
        self.hostAddress = hostAddress
        self.hostPort = hostPort
        self.mac = mac
        self.guestPort = guestPort
    }
}

/// What the network page shows about the host's interface on a host or NAT network.
public struct HostInterfaceStatus: Sendable, Equatable {
    public var name: String
    public var isUp: Bool
    public var detail: String
    public var mac: MACAddress?
    /// `192.168.131.1/24`.
    public var ipv4: String?
    /// `fd12:3456:789a:1::1/64`.
    public var ipv6: String?
    public var unicastDHCPHandedToServer: UInt64

    public init(name: String, isUp: Bool, detail: String, mac: MACAddress? = nil, ipv4: String? = nil, ipv6: String? = nil,
                unicastDHCPHandedToServer: UInt64 = 0) {
        self.name = name
        self.isUp = isUp
        self.detail = detail
        self.mac = mac
        self.ipv4 = ipv4
        self.ipv6 = ipv6
        self.unicastDHCPHandedToServer = unicastDHCPHandedToServer
    }
}

/// The NAT side of a NAT network, as installed in vnetd's nftables table.
public struct NATStatus: Sendable, Equatable {
    public struct Forward: Sendable, Equatable {
        public var id: Int64
        /// The VM's address now; nil: its NIC has no lease or reservation yet (nothing installed).
        public var target: IPv4Address?
        public var hits: UInt64
        public init(id: Int64, target: IPv4Address?, hits: UInt64) {
            self.id = id
            self.target = target
            self.hits = hits
        }
    }

    public var isInstalled: Bool
    /// What is missing or failed; nil when all is in place.
    public var problem: String?
    /// The interface VMs' traffic leaves by (the default route's, or the chosen adapter).
    public var outbound: String?
    public var masqueradedPackets: UInt64
    public var masqueradedBytes: UInt64
    public var masqueradedPackets6: UInt64
    public var masqueradedBytes6: UInt64
    /// Connections masqueraded (IPv4 and IPv6): a nat chain sees the first packet of each.
    public var connections: UInt64 = 0
    /// The per-interface switches vnetd turned on, as `net.ipv4.conf.vndn….forwarding`.
    public var forwardingSwitches: [String]
    public var forwards: [Forward]
    /// The rules of this network in vnetd's table, as nftables lists them.
    public var rules: [String]

    public init(isInstalled: Bool, problem: String? = nil, outbound: String? = nil, masqueradedPackets: UInt64 = 0, masqueradedBytes: UInt64 = 0,
                masqueradedPackets6: UInt64 = 0, masqueradedBytes6: UInt64 = 0, forwardingSwitches: [String] = [], forwards: [Forward] = [],
                rules: [String] = []) {
        self.isInstalled = isInstalled
        self.problem = problem
        self.outbound = outbound
        self.masqueradedPackets = masqueradedPackets
        self.masqueradedBytes = masqueradedBytes
        self.masqueradedPackets6 = masqueradedPackets6
        self.masqueradedBytes6 = masqueradedBytes6
        self.forwardingSwitches = forwardingSwitches
        self.forwards = forwards
        self.rules = rules
    }
}
