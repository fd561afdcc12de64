import DHCP
import Domain
import Foundation
import HostNet
import Switching

/// One network in the data path: its switch, the NIC ports that are members, the ports its kind
/// brings (an external network's uplink), and its DHCP endpoint. Lives on one loop
/// (`DataplaneShard`) for its whole life. Loop thread only.
final class NetworkRuntime {
    var network: VirtualNetwork
    let fabric: VirtualSwitch
    unowned let shard: DataplaneShard
    /// NIC ports whose backend is in `fabric` now.
    var members: [NICID: NICPort] = [:]
    var uplink: Uplink?
    var endpoint: DHCPEndpoint?
    /// Host and NAT networks: the DNS server on the host interface (NetworkRuntime+DNS).
    var dns: NetworkDNSServer?
    /// Host and NAT networks with a /64: router advertisements (NetworkRuntime+IPv6).
    var advertiser: RouterAdvertiser?
    /// Host and NAT networks: the host's own interface on the network (`HostInterface`); its
    /// `name`, `ipv4` and `ipv6` are what services bind to on the host side.
    var hostInterface: HostInterface?
    /// The network's DHCP settings as stored (on or off): the host interface's subnet.
    var dhcpScope: DHCPSettings?

    init(network: VirtualNetwork, shard: DataplaneShard) {
        self.network = network
        self.shard = shard
        let configuration = shard.services.configuration
        fabric = VirtualSwitch(name: network.name, macTableCapacity: configuration.macTableCapacity, agingTime: configuration.agingTime)
    }

    var id: NetworkID { network.id }
    var loop: EventLoop { shard.loop }
    var services: DataplaneServices { shard.services }

    /// The ports a network's kind brings besides its NICs, made or closed to match its settings:
    /// an external network's uplink exists exactly when its adapter is bound (`uplinkAdapter`).
    /// Other kinds add theirs here.
    func syncExtraPorts(uplinkAdapter: String?) {
        syncUplink(adapter: uplinkAdapter)
        syncHostInterface()
    }

    func networkChanged() {
        if let endpoint {
            endpoint.networkName = network.name
            endpoint.update(dhcpScope.map(serverSettings) ?? endpoint.settings, authoritative: Self.isAuthoritative(network))
        }
    }

    /// The built-in server is the only one on a network without an uplink; beside a LAN it
    /// leaves clients it does not know to the LAN's servers.
    static func isAuthoritative(_ network: VirtualNetwork) -> Bool {
        network.kind.adapterName == nil
    }

    func tick(now: Int64, second: Int) {
        fabric.tick(now: now)
        if second % 10 == 0 { endpoint?.tick() }
        syncDNS(second: second)
        syncRouterAdvertiser(second: second)
        uplink?.port?.refreshStatistics()
        // An uplink whose adapter was missing or down: try again.
        if second % 5 == 4, let uplink, uplink.port?.isOpen != true { openUplink(uplink) }
    }

    func close() {
        closeUplink()
        closeDNS()
        closeRouterAdvertiser()
        closeHostInterface()
        if let endpoint { fabric.detach(endpoint.id) }
        endpoint = nil
    }
}
