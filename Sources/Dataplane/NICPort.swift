import Domain
import Foundation
import HostNet
import Logging
import Switching

/// A VM's network adapter in the data path: its backend (socket or TAP) and the switch it is a
/// member of. Owned by one loop at a time; handed from one to another when the NIC moves.
///
/// A NIC's backend lives as long as the NIC and its backend kind: connecting, disconnecting and
/// moving it between networks only changes which switch its port belongs to (and, when the new
/// network is served by another loop, which loop watches its descriptors).
final class NICPort: @unchecked Sendable {
    var nic: VirtualNIC
    let id: PortID
    var backend: IOPort?
    /// The network whose switch the port is a member of now. It can differ from
    /// `nic.networkID` while a change is applied, so leaving always uses this.
    var memberOf: NetworkID?
    var failure: String?
    /// Counters and history carried across backend changes within one network; a move to
    /// another network starts them again, so that network's totals and chart hold only its traffic.
    var counters = PortCounters()
    var history = TrafficHistory()
    var countedOn: NetworkID?

    init(nic: VirtualNIC, id: PortID) {
        self.nic = nic
        self.id = id
    }

    var role: PortRole { .vm(mac: nic.mac, allowsSpoofing: nic.allowsMACSpoofing) }
}

/// What happens to a NIC's port: added, changed (backend kind, network, MAC), moved to another
/// loop, removed. Loop thread only.
extension DataplaneShard {
    func addNIC(_ nic: VirtualNIC) {
        guard nics[nic.id] == nil else { return changeNIC(nic) }
        let port = NICPort(nic: nic, id: services.portIDs.allocate())
        nics[nic.id] = port
        openBackend(port)
        joinSwitch(port)
    }

    func changeNIC(_ nic: VirtualNIC) {
        guard let port = nics[nic.id] else { return addNIC(nic) }
        let old = port.nic
        port.nic = nic
        // A different backend kind, or a lost one, needs a new descriptor; anything else keeps it.
        if old.backend != nic.backend || port.backend == nil || Self.isLost(port.backend) {
            leaveSwitch(port)
            port.backend?.close()
            port.backend = nil
            openBackend(port)
            joinSwitch(port)
        } else if port.memberOf != nic.networkID {
            leaveSwitch(port)
            joinSwitch(port)
        } else if old.mac != nic.mac || old.allowsMACSpoofing != nic.allowsMACSpoofing {
            // Same switch, new identity: the pin moves to the new MAC, the spoofing check follows.
            if let network = port.memberOf, let runtime = runtimes[network], let backend = port.backend {
                runtime.fabric.attach(port.id, sink: backend, role: port.role)
                runtime.refreshUplinkFilter()
            }
        }
        if old.mac != nic.mac, let tap = port.backend as? TAPPort {
            tap.setAddress(nic.mac.octets)
        }
    }

    func removeNIC(_ id: NICID) {
        guard let port = nics.removeValue(forKey: id) else { return }
        leaveSwitch(port)
        port.backend?.close()
        // The domain deleted its stored leases in the same transaction; free the addresses here.
        for runtime in runtimes.values { _ = runtime.endpoint?.server.forget(port.nic.mac) }
    }

    /// A move to a network another loop serves, first half (this loop): the port leaves its
    /// switch and its descriptors leave this loop, still open. The coordinator hands the port to
    /// the new loop's `adopt`.
    func release(_ id: NICID) -> NICPort? {
        guard let port = nics.removeValue(forKey: id) else { return nil }
        leaveSwitch(port)
        port.backend?.leaveLoop()
        publish()
        return port
    }

    /// Second half, on the new loop: the descriptors join this loop, then the change that moved
    /// the NIC is applied here as any other (joining the new network's switch).
    func adopt(_ port: NICPort?, as nic: VirtualNIC) {
        guard let port else { return addNIC(nic) }
        nics[nic.id] = port
        if let backend = port.backend {
            do {
                try backend.joinLoop(loop)
            } catch {
                services.logger.warning("port for \(nic.label) lost moving to another loop", metadata: nic.logMetadata(["error": "\(error)"]))
                backend.close()
                port.backend = nil
            }
        }
        changeNIC(nic)
    }

    static func isLost(_ backend: IOPort?) -> Bool {
        if case .unavailable = backend?.state { return true }
        return false
    }

    /// Opens the NIC's backend by its kind: the one place a new kind of backend is added.
    func openBackend(_ port: NICPort) {
        let nic = port.nic
        do {
            switch nic.backend {
            case .vhostUser:
                port.backend = try VhostUserPort(id: port.id, loop: loop, path: services.socketPath(of: nic))
            case .socket:
                port.backend = try StreamSocketPort(id: port.id, loop: loop, path: services.socketPath(of: nic))
            case .datagram:
                port.backend = try DatagramSocketPort(id: port.id, loop: loop, path: services.socketPath(of: nic))
            case .tap:
                let tap = try TAPPort(id: port.id, loop: loop, interfaceName: Dataplane.tapName(nic.id))
                tap.setAddress(nic.mac.octets)
                port.backend = tap
            }
            services.shareSocket(of: nic)
            port.failure = nil
        } catch {
            port.failure = error.isPermissionDenied
                ? (nic.backend == .tap
                    ? "Needs CAP_NET_ADMIN: run vnetd as root, or give it the capability (setcap cap_net_admin,cap_net_raw+ep), to create TAP devices."
                    : "Permission denied for \(services.socketPath(of: nic)).")
                : "Could not be created: \(error)."
            services.logger.warning("port for \(nic.label) unavailable", metadata: nic.logMetadata(["error": "\(error)"]))
        }
    }

    func joinSwitch(_ port: NICPort) {
        if port.memberOf != nil { leaveSwitch(port) }
        guard let network = port.nic.networkID, let runtime = runtimes[network], let backend = port.backend else { return }
        if port.countedOn != network {
            port.counters = PortCounters()
            port.history = TrafficHistory()
            port.countedOn = network
        }
        runtime.fabric.attach(port.id, sink: backend, role: port.role, counters: port.counters, history: port.history)
        runtime.members[port.nic.id] = port
        port.memberOf = network
        backend.fabric = runtime.fabric
        runtime.refreshUplinkFilter()
    }

    /// Leaves the switch the port is really in, whatever the NIC's new settings say.
    func leaveSwitch(_ port: NICPort) {
        guard let id = port.memberOf else { return }
        port.memberOf = nil
        port.backend?.fabric = nil
        guard let runtime = runtimes[id] else { return }
        runtime.members[port.nic.id] = nil
        if let (counters, history) = runtime.fabric.detach(port.id) {
            port.counters = counters
            port.history = history
        }
        runtime.refreshUplinkFilter()
    }
}

extension VirtualNIC {
    /// The ids a log record about this NIC carries (journal fields NIC_ID, VM_ID, NETWORK_ID).
    func logMetadata(_ more: Logger.Metadata = [:]) -> Logger.Metadata {
        var metadata = more
        metadata["nic"] = "\(id.rawValue)"
        metadata["vm"] = "\(vmID.rawValue)"
        if let networkID { metadata["network"] = "\(networkID.rawValue)" }
        return metadata
    }
}
