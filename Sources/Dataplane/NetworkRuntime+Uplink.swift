import Domain
import Foundation
import HostNet
import Packets
import Switching

/// External networks' uplinks: one per network whose adapter is bound and present, with the
/// kernel filter that keeps the host's own traffic out. Loop thread only.
extension Dataplane {
    /// What the network's uplink lets in from the LAN: unicast for its VMs' MACs only, or every
    /// unicast but the host's own while some VM may send from other addresses.
    func uplinkFilter(_ network: NetworkID) -> UplinkFilter {
        let members = nics.values.filter { $0.memberOf == network }
        return UplinkFilter(stations: members.map(\.nic.mac).sorted { $0.value < $1.value },
                            passesAllUnicast: members.contains { $0.nic.allowsMACSpoofing })
    }

    func refreshUplinkFilter(_ network: NetworkID) {
        guard let port = uplinks[network]?.port, port.isOpen else { return }
        port.update(uplinkFilter(network))
    }

    /// Opens or closes a network's uplink so that it exists exactly when the network is external
    /// and its adapter is bound.
    func syncUplink(_ id: NetworkID) {
        let wanted = networks[id].flatMap { network in network.kind.adapterName.flatMap { bindings[$0] == true ? $0 : nil } }
        if let current = uplinks[id], current.adapter != wanted {
            closeUplink(id)
        }
        guard let adapter = wanted else { return }
        let uplink = uplinks[id] ?? Uplink(adapter: adapter, id: allocatePortID())
        uplinks[id] = uplink
        endpoints[id]?.excludedPort = uplink.id
        openUplink(uplink, network: id)
    }

    func openUplink(_ uplink: Uplink, network: NetworkID) {
        guard uplink.port?.isOpen != true, let fabric = switches[network] else { return }
        if let stale = uplink.port {
            fabric.detach(stale.id)
            uplink.port = nil
        }
        do {
            let port = try PacketSocketPort(id: uplink.id, loop: loop, adapter: uplink.adapter, filter: uplinkFilter(network))
            fabric.attach(uplink.id, sink: port, role: .uplink(adapterMAC: port.adapterMAC))
            port.fabric = fabric
            uplink.port = port
            uplink.failure = nil
            if let reason = port.hostAccessFailure {
                logger.warning("uplink on \(uplink.adapter) without host access", metadata: ["reason": "\(reason)"])
            }
        } catch {
            uplink.failure = error.isPermissionDenied
                ? "Needs CAP_NET_RAW: run vnetd as root, or give it the capability (setcap cap_net_admin,cap_net_raw+ep), to use host adapters."
                : (error.errno == ENODEV ? "Adapter not found: vnetd attaches when \(uplink.adapter) is back." : "Could not open \(uplink.adapter): \(error).")
        }
    }

    func closeUplink(_ id: NetworkID) {
        guard let uplink = uplinks.removeValue(forKey: id) else { return }
        switches[id]?.detach(uplink.id)
        uplink.port?.close()
    }
}
