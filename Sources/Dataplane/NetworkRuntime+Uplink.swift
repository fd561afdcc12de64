import Domain
import Foundation
import HostNet
import Packets
import Switching

/// An external network's uplink: a packet socket on the bound host adapter, with the kernel
/// filter that keeps the host's own traffic out. Loop thread only.
final class Uplink {
    let adapter: String
    let id: PortID
    var port: PacketSocketPort?
    var failure: String?

    init(adapter: String, id: PortID) {
        self.adapter = adapter
        self.id = id
    }
}

extension NetworkRuntime {
    /// What the network's uplink lets in from the LAN: unicast for its VMs' MACs only, or every
    /// unicast but the host's own while some VM may send from other addresses.
    func uplinkFilter() -> UplinkFilter {
        let nics = members.values.map(\.nic)
        return UplinkFilter(stations: nics.map(\.mac).sorted { $0.value < $1.value },
                            passesAllUnicast: nics.contains { $0.allowsMACSpoofing })
    }

    func refreshUplinkFilter() {
        guard let port = uplink?.port, port.isOpen else { return }
        port.update(uplinkFilter())
    }

    /// Opens or closes the uplink so that it exists exactly when the network is external and
    /// its adapter is bound (`adapter`, decided by the coordinator).
    func syncUplink(adapter wanted: String?) {
        if let current = uplink, current.adapter != wanted {
            closeUplink()
        }
        guard let adapter = wanted else { return }
        let uplink = uplink ?? Uplink(adapter: adapter, id: services.portIDs.allocate())
        self.uplink = uplink
        endpoint?.excludedPort = uplink.id
        openUplink(uplink)
    }

    func openUplink(_ uplink: Uplink) {
        guard uplink.port?.isOpen != true else { return }
        if let stale = uplink.port {
            fabric.detach(stale.id)
            uplink.port = nil
        }
        do {
            let port = try PacketSocketPort(id: uplink.id, loop: loop, adapter: uplink.adapter, filter: uplinkFilter())
            fabric.attach(uplink.id, sink: port, role: .uplink(adapterMAC: port.adapterMAC))
            port.fabric = fabric
            uplink.port = port
            uplink.failure = nil
            if let reason = port.hostAccessFailure {
                services.logger.warning("uplink on \(uplink.adapter) without host access", metadata: ["reason": "\(reason)"])
            }
        } catch {
            uplink.failure = error.isPermissionDenied
                ? "Needs CAP_NET_RAW: run vnetd as root, or give it the capability (setcap cap_net_admin,cap_net_raw+ep), to use host adapters."
                : (error.errno == ENODEV ? "Adapter not found: vnetd attaches when \(uplink.adapter) is back." : "Could not open \(uplink.adapter): \(error).")
        }
    }

    func closeUplink() {
        guard let uplink else { return }
        self.uplink = nil
        fabric.detach(uplink.id)
        uplink.port?.close()
    }
}
