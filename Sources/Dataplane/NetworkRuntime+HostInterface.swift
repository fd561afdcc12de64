import Domain
import Foundation
import HostNet
import Packets

/// The host's interface on host and NAT networks. Loop thread only.
extension NetworkRuntime {
    /// Opens, configures or closes the host interface to match the network's kind and scope.
    func syncHostInterface() {
        guard network.kind.hasHostInterface else {
            if let hostInterface {
                hostInterface.close(fabric: fabric)
                self.hostInterface = nil
                endpoint?.hostInterfaceMAC = nil
                services.hostNetworks.forget(id)
            }
            return
        }
        let host = hostInterface ?? HostInterface(network: id, id: services.portIDs.allocate())
        hostInterface = host
        if !host.isOpen { host.open(loop: loop, fabric: fabric) }
        if let scope = dhcpScope {
            let address = network.hostInterface.effectiveAddress(in: scope)
            host.configure(ipv4: (address, scope.prefixLength), ipv6: network.hostInterface.ipv6Prefix)
        }
        host.endpoint = endpoint
        endpoint?.hostInterfaceMAC = host.isOpen ? host.mac : nil
        services.hostNetworks.record(id, hostInterfaceStatus())
    }

    /// The DHCP settings the server runs with: on host and NAT networks it answers from the
    /// host's address, which is also the VMs' router unless the administrator set another.
    func serverSettings(_ settings: DHCPSettings) -> DHCPSettings {
        guard network.kind.hasHostInterface else { return settings }
        var adjusted = settings
        let address = network.hostInterface.effectiveAddress(in: settings)
        adjusted.server = address
        if adjusted.gateway == nil { adjusted.gateway = address }
        return adjusted
    }

    func hostInterfaceStatus() -> HostInterfaceStatus {
        guard let host = hostInterface else { return HostInterfaceStatus(name: "", isUp: false, detail: "No host interface.") }
        let detail: String
        if let failure = host.failure {
            detail = failure
        } else if !host.isOpen {
            detail = "The host's interface \(host.name) is not open."
        } else if host.ipv4 == nil {
            detail = "Up, without an address yet (the network has no DHCP scope)."
        } else {
            detail = "Up"
        }
        return HostInterfaceStatus(
            name: host.name, isUp: host.isOpen, detail: detail, mac: host.mac,
            ipv4: host.ipv4.map { "\($0.address)/\($0.prefixLength)" },
            ipv6: host.ipv6.map { IPv6Prefix.format($0.hostAddress) + "/64" },
            unicastDHCPHandedToServer: host.handedToServer)
    }

    func closeHostInterface() {
        guard let hostInterface else { return }
        hostInterface.close(fabric: fabric)
        self.hostInterface = nil
        services.hostNetworks.forget(id)
    }
}
