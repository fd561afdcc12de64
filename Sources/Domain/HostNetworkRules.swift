import Foundation
import Packets

/// What the Create and Settings forms submit for a host or NAT network, as typed.
public struct HostInterfaceDraft: Sendable, Equatable {
    /// Empty: the DHCP scope's first host address.
    public var address: String
    /// Empty: no IPv6; `auto`: the prefix the network has, or a new ULA; otherwise a /64.
    public var ipv6: String
    /// NAT only. Empty: the interface of the host's default route; otherwise an adapter's name.
    public var outbound: String

    public init(address: String = "", ipv6: String = "", outbound: String = "") {
        self.address = address
        self.ipv6 = ipv6
        self.outbound = outbound
    }

    public init(_ settings: HostInterfaceSettings, kind: NetworkKind) {
        self.init(address: settings.address.map(\.description) ?? "", ipv6: settings.ipv6Prefix.map(\.description) ?? "",
                  outbound: kind.natOutbound ?? "")
    }
}

/// Rules for the host's interface on host and NAT networks.
public enum HostNetworkRules {
    /// The kind and host interface a draft asks for, given the network's DHCP scope. Problems are
    /// appended; the result is then meaningless.
    static func resolve(_ draft: NetworkDraft, current: VirtualNetwork?, scope: DHCPSettings, present: Set<String>,
                        problems: inout [Problem]) -> (NetworkKind, HostInterfaceSettings) {
        let kept = current?.hostInterface ?? HostInterfaceSettings()
        let kind: NetworkKind
        switch draft.effectiveKind {
        case .guestOnly, .external: return (.guestOnly, kept)
        case .host: kind = .host
        case .nat:
            let outbound = draft.host.outbound.trimmingCharacters(in: .whitespaces)
            if outbound.isEmpty {
                kind = .nat(outbound: nil)
            } else if current?.kind.natOutbound == outbound || present.contains(outbound) {
                kind = .nat(outbound: outbound)
            } else {
                problems.append(Problem(.adapterNotFound, field: "outbound", "There is no host adapter named “\(outbound)” on this computer."))
                kind = .nat(outbound: nil)
            }
        }
        var settings = kept
        let typed = draft.host.address.trimmingCharacters(in: .whitespaces)
        if typed.isEmpty {
            settings.address = nil
        } else if let address = IPv4Address(parsing: typed) {
            let found = addressProblems(address, in: scope)
            problems += found
            settings.address = found.isEmpty ? address : nil
        } else {
            problems.append(Problem(.hostInterfaceInvalid, field: "hostAddress", "“\(typed)” is not an IPv4 address such as 192.168.131.1."))
        }
        let ipv6 = draft.host.ipv6.trimmingCharacters(in: .whitespaces)
        switch ipv6.lowercased() {
        case "": settings.ipv6Prefix = nil
        case "auto": settings.ipv6Prefix = kept.ipv6Prefix ?? IPv6Prefix.generateULA()
        default:
            if let prefix = IPv6Prefix(parsing: ipv6) {
                if prefix.isLinkLocal || prefix.isMulticast || prefix.high == 0 {
                    problems.append(Problem(.hostInterfaceInvalid, field: "ipv6", "\(prefix) cannot be a network's prefix: use a unique local (fd00::/8) or global /64."))
                } else {
                    settings.ipv6Prefix = prefix
                }
            } else {
                problems.append(Problem(.hostInterfaceInvalid, field: "ipv6", "“\(ipv6)” is not an IPv6 /64 prefix such as fd12:3456:789a:1::/64."))
            }
        }
        return (kind, settings)
    }

    /// The host's address must be a host address of the scope that the DHCP server never hands
    /// out: outside the range and not reserved for a VM.
    public static func addressProblems(_ address: IPv4Address, in scope: DHCPSettings) -> [Problem] {
        let where_ = "\(scope.network)/\(scope.prefixLength)"
        guard scope.contains(address), address != scope.network, address != scope.broadcast else {
            return [Problem(.hostInterfaceInvalid, field: "hostAddress", "\(address) is not a host address of the network's DHCP scope \(where_).")]
        }
        if (scope.rangeStart...scope.rangeEnd).contains(address) {
            return [Problem(.hostInterfaceInvalid, field: "hostAddress", "\(address) is in the DHCP range \(scope.rangeStart)–\(scope.rangeEnd): VMs could be given it. Choose an address below \(scope.rangeStart).")]
        }
        if let reservation = scope.reservations.first(where: { $0.address == address }) {
            return [Problem(.hostInterfaceInvalid, field: "hostAddress", "\(address) is reserved for \(reservation.mac) on the DHCP Server page.")]
        }
        return []
    }

    /// The address the host interface really gets: the one set while it is still valid in the
    /// scope (a later DHCP change may have moved the scope), else the scope's first host address.
    public static func effectiveAddress(_ settings: HostInterfaceSettings, in scope: DHCPSettings) -> IPv4Address {
        if let address = settings.address, addressProblems(address, in: scope).isEmpty { return address }
        return IPv4Address(value: scope.network.value &+ 1)
    }
}
