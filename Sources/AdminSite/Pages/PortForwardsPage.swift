import Domain
import Packets
import WebServer

/// POST /networks/{id}/forwards and /networks/{id}/forwards/remove — a NAT network's port
/// forwards, listed on the network's page (`HostNetworkSection`). A refused form re-renders the
/// network page with the input kept, status 422.
struct PortForwardsPage: Sendable {
    let site: SiteContext

    static let fields: Set<String> = ["proto", "hostAddress", "hostPort", "mac", "guestPort"]

    func add(_ request: Request) throws -> Response {
        let id = try PathID.network(request)
        let draft = PortForwardDraft(proto: request.field("proto"), hostAddress: request.field("hostAddress"), hostPort: request.field("hostPort"),
                                     mac: request.field("mac"), guestPort: request.field("guestPort"))
        guard let service = site.dependencies.portForwards else { throw HTTPError.notFound("Port forwards are not available.") }
        let mark = Notices.mark(site)
        do {
            try service.add(to: id, draft)
            return Notices.redirect("/networks/\(id.rawValue)#port-forwards", since: mark, site)
        } catch let failure as ValidationFailure {
            return try NetworkPropertiesPage(site: site).render(request, id: id, forward: draft,
                                                                errors: FormErrors(failure, knownFields: Self.fields), status: 422)
        } catch is NotFound {
            throw HTTPError.notFound("There is no such virtual network.")
        }
    }

    func remove(_ request: Request) throws -> Response {
        let id = try PathID.network(request)
        guard let service = site.dependencies.portForwards, let forward = Int64(request.field("forward")) else {
            throw HTTPError.notFound("There is no such port forward.")
        }
        let mark = Notices.mark(site)
        do {
            try service.remove(forward, from: id)
        } catch is NotFound {
            throw HTTPError.notFound("There is no such port forward.")
        }
        return Notices.redirect("/networks/\(id.rawValue)#port-forwards", since: mark, site)
    }
}

/// The network page's part for host and NAT networks: the host interface and its addresses,
/// what vnetd installed in nftables and its counters, and the port forwards with their hits.
enum HostNetworkSection {
    static func context(network: VirtualNetwork, scope: DHCPSettings?, runtime: NetworkRuntimeStatus, nics: [NICListing],
                        forwards: [PortForward], form: PortForwardDraft?) -> [String: Any]? {
        guard network.kind.hasHostInterface else { return nil }
        let host = runtime.hostInterface
        let address = scope.map { network.hostInterface.effectiveAddress(in: $0) }
        var section: [String: Any] = [
            "interface": HostInterfaceSettings.interfaceName(for: network.id),
            "isUp": host?.isUp == true,
            "detail": host?.detail ?? "Starting…",
            "ipv4": host?.ipv4 ?? address.map { "\($0)/\(scope?.prefixLength ?? 24) (not set yet)" } ?? "none: the network has no DHCP scope",
            "ipv6": host?.ipv6 ?? network.hostInterface.ipv6Prefix.map { IPv6Prefix.format($0.hostAddress) + "/64" } ?? "off",
            "mac": host?.mac.map(Labels.mac) ?? "—",
            "isNAT": network.kind.isNAT,
        ]
        guard network.kind.isNAT else { return section }
        let nat = runtime.nat
        section["nat"] = [
            "installed": nat?.isInstalled == true,
            "problem": nat?.problem ?? (nat == nil ? "Not installed yet." : ""),
            "hasProblem": nat?.problem != nil || nat == nil,
            "outbound": nat?.outbound ?? "—",
            "packets": nat?.masqueradedPackets ?? 0,
            "connections": nat?.connections ?? 0,
            "bytes": Formatting.bytes(nat?.masqueradedBytes ?? 0),
            "packets6": nat?.masqueradedPackets6 ?? 0,
            "bytes6": Formatting.bytes(nat?.masqueradedBytes6 ?? 0),
            "hasIPv6": network.hostInterface.ipv6Prefix != nil,
            "switches": nat?.forwardingSwitches ?? [],
            "rules": (nat?.rules ?? []).joined(separator: "\n"),
            "hasRules": !(nat?.rules ?? []).isEmpty,
        ]
        let names = Dictionary(nics.map { ($0.nic.mac, "\($0.vmName), \($0.nic.label)") }, uniquingKeysWith: { first, _ in first })
        let live = Dictionary((nat?.forwards ?? []).map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        section["forwards"] = forwards.map { forward -> [String: Any] in
            let state = live[forward.id]
            return [
                "id": forward.id,
                "proto": forward.proto.rawValue.uppercased(),
                "host": "\(forward.hostAddress.map(\.description) ?? "every address"):\(forward.hostPort)",
                "target": names[forward.mac] ?? Labels.mac(forward.mac) + " (not on this network)",
                "guest": "\(state?.target.map(\.description) ?? "no address yet"):\(forward.guestPort)",
                "hits": state?.hits ?? 0,
            ]
        }
        section["hasForwards"] = !forwards.isEmpty
        let typed = form ?? PortForwardDraft(proto: "tcp", hostAddress: "", hostPort: "", mac: "", guestPort: "")
        section["form"] = ["hostAddress": typed.hostAddress, "hostPort": typed.hostPort, "guestPort": typed.guestPort,
                           "tcp": typed.proto.lowercased() != "udp", "udp": typed.proto.lowercased() == "udp"]
        section["nicOptions"] = nics.map { ["value": $0.nic.mac.description, "label": "\($0.vmName), \($0.nic.label) (\(Labels.mac($0.nic.mac)))",
                                            "selected": MACAddress(parsing: typed.mac) == $0.nic.mac] }
        section["hasNICs"] = !nics.isEmpty
        return section
    }
}
