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

    /// RFC 5952 text for 16 bytes: lower case, the longest run of two or more zero groups as `::`.
    public static func format(_ bytes: [UInt8]) -> String {
        let groups = stride(from: 0, to: 16, by: 2).map { UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]) }
        var best = (start: -1, length: 0), run = (start: -1, length: 0)
        for (index, group) in groups.enumerated() {
            if group == 0 {
                run = run.start < 0 ? (index, 1) : (run.start, run.length + 1)
                if run.length > best.length { best = run }
            } else {
                run = (-1, 0)
            }
        }
        let hex = groups.map { String($0, radix: 16) }
        guard best.length >= 2 else { return hex.joined(separator: ":") }
        return hex[..<best.start].joined(separator: ":") + "::" + hex[(best.start + best.length)...].joined(separator: ":")
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
