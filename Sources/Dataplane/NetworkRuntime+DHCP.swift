import DHCP
import Domain
import Foundation
import Packets

/// The networks' DHCP servers: started from the stored leases and holds, reconfigured, told the
/// VMs' names, and their stored replies delivered.
extension Dataplane {
    /// Starts, reconfigures or stops a network's DHCP server. Off means off at once: the
    /// endpoint leaves the switch and nothing answers. A server that starts, at launch or when
    /// turned on again, begins from the stored leases, so running VMs keep their addresses and
    /// no new VM gets one that another still holds.
    func changeDHCP(_ id: NetworkID, _ settings: DHCPSettings) {
        guard settings.isEnabled, let fabric = switches[id] else {
            if let endpoint = endpoints.removeValue(forKey: id) { switches[id]?.detach(endpoint.id) }
            switches[id]?.dhcpGuard = false
            return
        }
        let authoritative = Self.isAuthoritative(networks[id])
        if let endpoint = endpoints[id] {
            endpoint.update(settings, authoritative: authoritative)
            return
        }
        var leases: [DHCPLease] = [], holds: [DHCPHold] = []
        do {
            leases = try leaseStore.leases(of: id)
            holds = try leaseStore.holds(of: id, now: clock.now())
        } catch {
            logger.error("could not read the stored DHCP leases; the server starts without them", metadata: ["network": "\(id.rawValue)", "error": "\(error)"])
        }
        let endpoint = DHCPEndpoint(id: allocatePortID(), network: id, networkName: networks[id]?.name ?? "", settings: settings,
                                    authoritative: authoritative, leases: leases, holds: holds, loop: loop, persister: persister, clock: clock)
        endpoint.vmNames = vmNamesByMAC()
        endpoint.fabric = fabric
        endpoint.excludedPort = uplinks[id]?.id
        let name = networks[id]?.name ?? "\(id.rawValue)"
        let subject = EventSubject(kind: .network, id: id.rawValue, name: name)
        endpoint.report = { [logger, operationalEvents] notice in
            let text = "\(Self.describe(notice)) on “\(name)”."
            logger.warning("\(text)")
            switch notice {
            case .declined(let address, _), .conflict(let address, _):
                operationalEvents.record(.dhcpAddressInUse, subject, text, key: "\(id.rawValue)|\(address)")
            case .reservationUnavailable(let address, _):
                operationalEvents.record(.dhcpReservationUnavailable, subject, text, key: "\(id.rawValue)|\(address)")
            case .poolExhausted, .bindingLimit:
                break  // the pool's event comes from its counter (Dataplane+Events); limits are counted
            }
        }
        fabric.attach(endpoint.id, sink: endpoint, role: .service(mac: endpoint.mac))
        fabric.dhcpGuard = true
        endpoints[id] = endpoint
    }

    /// Each NIC's VM name, for the names the DHCP endpoints answer.
    func vmNamesByMAC() -> [MACAddress: String] {
        Dictionary(nics.values.compactMap { port in vmNames[port.nic.vmID].map { (port.nic.mac, $0) } }, uniquingKeysWith: { first, _ in first })
    }

    func refreshNames() {
        guard !endpoints.isEmpty else { return }
        let names = vmNamesByMAC()
        for endpoint in endpoints.values where endpoint.vmNames != names { endpoint.vmNames = names }
    }

    static func describe(_ notice: RFC2131Server.Notice) -> String {
        switch notice {
        case .poolExhausted(let mac): "DHCP pool exhausted: no address left for \(mac.formatted(separator: "-", uppercase: true))"
        case .declined(let address, let mac): "DHCP address \(address) declined by \(mac.formatted(separator: "-", uppercase: true)), which found it in use: set aside for 10 minutes"
        case .conflict(let address, let mac): "The DHCP server's ARP probe found \(address) in use by \(mac.formatted(separator: "-", uppercase: true)), which holds no lease for it: set aside for 10 minutes"
        case .reservationUnavailable(let address, let mac): "The DHCP reservation of \(address) for \(mac.formatted(separator: "-", uppercase: true)) cannot be granted now (another client holds it, or it was found in use): a dynamic address was offered instead"
        case .bindingLimit(let port): "DHCP requests from switch port \(port) refused: it holds as many bindings as a port may"
        }
    }

    /// Replies whose leases are now stored, back on the loop thread.
    func deliverStoredReplies(_ replies: [LeasePersister.Pending]) {
        for reply in replies {
            endpoints[reply.network]?.queue(reply.frame, to: reply.port)
        }
    }
}
