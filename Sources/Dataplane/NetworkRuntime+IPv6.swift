import Domain
import Foundation
import HostNet
import Packets

/// Router advertisements on host and NAT networks with an IPv6 /64 (issue 14), sent from the
/// host interface so VMs configure themselves (SLAAC) and use the host as their DNS server:
/// prefix information with L and A, RDNSS pointing at the host interface's `::1` address (where
/// `NetworkDNSServer` listens), DNSSL with the network's domain, and a router lifetime only on
/// NAT networks (a host network has no route out, so VMs must not make it their default router).
/// Timing per RFC 4861 (`RouterAdvertisementSchedule`); a solicitation brings the next one forward.
/// The socket opens once the host interface exists and is tried again every 5 seconds until then.
final class RouterAdvertiser {
    var socket: RouterAdvertisementSocket?
    var schedule: RouterAdvertisementSchedule
    var advertisement: RouterAdvertisement
    let interface: String
    var problem: String?
    var random = SystemRandomNumberGenerator()
    var timerArmed = false

    init(interface: String, advertisement: RouterAdvertisement, now: Int64) {
        self.interface = interface
        self.advertisement = advertisement
        schedule = RouterAdvertisementSchedule(now: now)
    }
}

extension NetworkRuntime {
    static func routerAdvertisement(for network: VirtualNetwork, domain: String?) -> RouterAdvertisement? {
        guard network.kind.hasHostInterface, let prefix = network.hostInterface.ipv6Prefix else { return nil }
        var ra = RouterAdvertisement(routerLifetime: network.kind.isNAT ? 1800 : 0)
        ra.prefixes = [.init(prefix: prefix.high)]
        ra.dnsServers = [IPv6Address(high: prefix.high, low: 1)]
        ra.searchDomains = domain.map { [$0] } ?? []
        return ra
    }

    func syncRouterAdvertiser(second: Int) {
        guard let ra = Self.routerAdvertisement(for: network, domain: endpoint?.zoneDomain) else {
            advertiser?.socket?.close()
            advertiser = nil
            return
        }
        let interface = HostInterfaceSettings.interfaceName(for: network.id)
        if let advertiser, advertiser.interface == interface {
            if advertiser.advertisement != ra {
                advertiser.advertisement = ra
                advertiser.schedule = RouterAdvertisementSchedule(now: loop.now)  // a change is announced at once
            }
        } else {
            advertiser?.socket?.close()
            advertiser = RouterAdvertiser(interface: interface, advertisement: ra, now: loop.now)
        }
        guard let advertiser else { return }
        if advertiser.socket == nil, second % 5 == 0 || advertiser.problem == nil {
            do {
                let socket = try RouterAdvertisementSocket(loop: loop, interface: interface)
                socket.onSolicitation = { [weak self, weak advertiser] in
                    guard let self, let advertiser else { return }
                    advertiser.schedule.solicited(now: self.loop.now, using: &advertiser.random)
                    self.armAdvertisement(advertiser)
                }
                advertiser.socket = socket
                advertiser.problem = nil
            } catch {
                advertiser.problem = "\(error)"
            }
        }
        if advertiser.schedule.nextDue <= loop.now { advertise(advertiser) }
    }

    private func armAdvertisement(_ advertiser: RouterAdvertiser) {
        guard !advertiser.timerArmed else { return }
        advertiser.timerArmed = true
        loop.runAfter(milliseconds: max(0, advertiser.schedule.nextDue - loop.now)) { [weak self, weak advertiser] in
            guard let self, let advertiser else { return }
            advertiser.timerArmed = false
            if advertiser.schedule.nextDue <= self.loop.now { self.advertise(advertiser) } else { self.armAdvertisement(advertiser) }
        }
    }

    private func advertise(_ advertiser: RouterAdvertiser) {
        guard let socket = advertiser.socket else { return }
        if !socket.sendToAllNodes(advertiser.advertisement.serialized()) {
            // The interface may not have its link-local address yet (DAD): try again in a second.
            advertiser.problem = "sending a router advertisement on \(advertiser.interface) failed"
            return
        }
        advertiser.schedule.sent(now: loop.now, using: &advertiser.random)
    }

    /// On the loop's clean stop, hosts are told this router is leaving (lifetime 0, RFC 4861 §6.2.5).
    func closeRouterAdvertiser() {
        if let advertiser, let socket = advertiser.socket {
            var last = advertiser.advertisement
            last.routerLifetime = 0
            socket.sendToAllNodes(last.serialized())
            socket.close()
        }
        advertiser = nil
    }
}
