import DHCP
import Domain
import Foundation
import Packets

/// The network's DHCP server: started from the stored leases and holds, reconfigured, told the
/// VMs' names. Loop thread only.
extension NetworkRuntime {
    /// Starts, reconfigures or stops the server. Off means off at once: the endpoint leaves the
    /// switch and nothing answers. A server that starts, at launch or when turned on again,
    /// begins from the stored leases, so running VMs keep their addresses and no new VM gets one
    /// that another still holds.
    func changeDHCP(_ stored: DHCPSettings) {
        dhcpScope = stored
        let settings = serverSettings(stored)
        defer { syncHostInterface() }
        guard settings.isEnabled else {
            if let endpoint { fabric.detach(endpoint.id) }
            endpoint = nil
            fabric.dhcpGuard = false
            return
        }
        let authoritative = Self.isAuthoritative(network)
        if let endpoint {
            endpoint.update(settings, authoritative: authoritative)
            return
        }
        let id = network.id
        let logger = services.logger
        var leases: [DHCPLease] = [], holds: [DHCPHold] = []
        do {
            leases = try services.leaseStore.leases(of: id)
            holds = try services.leaseStore.holds(of: id, now: services.clock.now())
        } catch {
            logger.error("could not read the stored DHCP leases; the server starts without them", metadata: ["network": "\(id.rawValue)", "error": "\(error)"])
        }
        let endpoint = DHCPEndpoint(id: services.portIDs.allocate(), network: id, networkName: network.name, settings: settings,
                                    authoritative: authoritative, leases: leases, holds: holds, loop: loop, persister: shard.persister,
                                    clock: services.clock)
        endpoint.vmNames = shard.namesByMAC
        endpoint.fabric = fabric
        endpoint.excludedPort = uplink?.id
        let name = network.name
        let subject = EventSubject(kind: .network, id: id.rawValue, name: name)
        endpoint.report = { [operationalEvents = services.operationalEvents] notice in
            let text = "\(Self.describe(notice)) on “\(name)”."
            logger.warning("\(text)")
            switch notice {
            case .declined(let address, _), .conflict(let address, _):
                operationalEvents.record(.dhcpAddressInUse, subject, text, key: "\(id.rawValue)|\(address)")
            case .reservationUnavailable(let address, _):
                operationalEvents.record(.dhcpReservationUnavailable, subject, text, key: "\(id.rawValue)|\(address)")
            case .poolExhausted, .bindingLimit:
                break  // the pool's event comes from its counter (OperationalEvents); limits are counted
            }
        }
        fabric.attach(endpoint.id, sink: endpoint, role: .service(mac: endpoint.mac))
        fabric.dhcpGuard = true
        self.endpoint = endpoint
    }

    func refreshNames() {
        guard let endpoint, endpoint.vmNames != shard.namesByMAC else { return }
        endpoint.vmNames = shard.namesByMAC
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
}
