import Domain
import Foundation
import Packets

/// Host and NAT networks in a definition file (format 1; a file without these elements is a
/// guest-only or external network, as files written before them are):
///
///     <kind>nat</kind>                                   guest | external | host | nat
///     <host_interface address="192.168.131.1" ipv6_prefix="fd12:3456:789a:1::/64" nat_outbound="eth0"/>
///     <port_forward protocol="tcp" host_address="" host_port="8080" mac="00:03:ff:12:34:56" guest_port="80"/>
///
/// Every attribute may be empty or missing: no address means the DHCP scope's first host
/// address, no prefix no IPv6, no outbound the default route's interface, no host address every
/// address of the host. The values go through the same rules as the pages on import.
extension NetworkDefinitionXML {
    static func hostNetworkXML(_ definition: NetworkDefinition) -> String {
        let kind: String
        switch definition.kind {
        case .guestOnly: kind = "guest"
        case .external: kind = "external"
        case .host: kind = "host"
        case .nat: kind = "nat"
        }
        var xml = "  <kind>\(kind)</kind>\n"
        guard definition.kind.hasHostInterface else { return xml }
        let host = definition.hostInterface
        xml += "  <host_interface address=\"\(host.address?.description ?? "")\" ipv6_prefix=\"\(host.ipv6Prefix?.description ?? "")\""
            + " nat_outbound=\"\(escape(definition.kind.natOutbound ?? ""))\"/>\n"
        for forward in definition.portForwards {
            xml += "  <port_forward protocol=\"\(forward.proto.rawValue)\" host_address=\"\(forward.hostAddress?.description ?? "")\""
                + " host_port=\"\(forward.hostPort)\" mac=\"\(forward.mac)\" guest_port=\"\(forward.guestPort)\"/>\n"
        }
        return xml
    }

    static func hostNetwork(_ reader: some HostNetworkValues, adapter: String) throws -> (NetworkKind, HostInterfaceSettings, [PortForward]) {
        let kindText = reader.values["kind"]?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        let attributes = reader.hostInterface ?? [:]
        func text(_ key: String) -> String { (attributes[key] ?? "").trimmingCharacters(in: .whitespaces) }
        let kind: NetworkKind
        switch kindText {
        case "": kind = adapter.isEmpty ? .guestOnly : .external(adapter: adapter)
        case "guest": kind = .guestOnly
        case "external":
            guard !adapter.isEmpty else { throw invalid("The definition is of an external network but names no <host_adapter>.") }
            kind = .external(adapter: adapter)
        case "host": kind = .host
        case "nat": kind = .nat(outbound: text("nat_outbound").isEmpty ? nil : text("nat_outbound"))
        default: throw invalid("The definition's <kind> is “\(kindText)”; it must be guest, external, host or nat.")
        }
        var host = HostInterfaceSettings()
        if !text("address").isEmpty {
            guard let address = IPv4Address(parsing: text("address")) else { throw invalid("The host interface's address “\(text("address"))” is not an IPv4 address.") }
            host.address = address
        }
        if !text("ipv6_prefix").isEmpty {
            guard let prefix = IPv6Prefix(parsing: text("ipv6_prefix")) else { throw invalid("The host interface's IPv6 prefix “\(text("ipv6_prefix"))” is not a /64.") }
            host.ipv6Prefix = prefix
        }
        var forwards: [PortForward] = []
        for item in reader.portForwards {
            guard let proto = item["protocol"].flatMap(PortForwardProtocol.init(rawValue:)),
                  let hostPort = item["host_port"].flatMap({ Int($0) }), let guestPort = item["guest_port"].flatMap({ Int($0) }),
                  let mac = item["mac"].flatMap(MACAddress.init(parsing:)) else {
                throw invalid("A <port_forward> in the file lacks a valid protocol (tcp or udp), host_port, guest_port or mac.")
            }
            let addressText = item["host_address"] ?? ""
            let address = addressText.isEmpty ? nil : IPv4Address(parsing: addressText)
            if !addressText.isEmpty, address == nil { throw invalid("A <port_forward>'s host_address “\(addressText)” is not an IPv4 address.") }
            forwards.append(PortForward(network: NetworkID(rawValue: ""), proto: proto, hostAddress: address, hostPort: hostPort, mac: mac, guestPort: guestPort))
        }
        return (kind, host, forwards)
    }
}

protocol HostNetworkValues {
    var values: [String: String] { get }
    var hostInterface: [String: String]? { get }
    var portForwards: [[String: String]] { get }
}
