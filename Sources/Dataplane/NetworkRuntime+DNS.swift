import DNS
import Domain
import Foundation
import Packets
import Synchronization

/// The DNS server of a host or NAT network (`NetworkDNSServer`): it exists while the network has
/// a host interface and its DHCP scope (the scope says which addresses are the network's), on the
/// host interface's address and its IPv6 /64's `::1`; the DHCP server hands that address out as
/// DNS server. Checked every second, so a settings change takes effect within one.
extension NetworkRuntime {
    /// At once after a change (a VM that leases an address asks for names the next moment), and
    /// every second from `tick`.
    func syncHostServices() {
        syncDNS(second: 0)
        syncRouterAdvertiser(second: 0)
    }

    func syncDNS(second: Int) {
        guard network.kind.hasHostInterface, let endpoint else {
            closeDNS()
            return
        }
        let scope = endpoint.settings
        let address = network.hostInterface.effectiveAddress(in: scope)
        endpoint.hostDNSAddress = address
        endpoint.ipv6Prefix = network.hostInterface.ipv6Prefix?.high
        let forwards = network.kind.isNAT
        let setup = NetworkDNSServer.Setup(
            address: address, subnet: (scope.network, scope.mask),
            ipv6: network.hostInterface.ipv6Prefix.map { IPv6Address(high: $0.high, low: 1) },
            forwards: forwards, upstreams: forwards ? HostResolvers.shared.upstreams(services.configuration) : [],
            interface: hostInterface?.isOpen == true ? hostInterface?.name : nil)
        if let dns {
            dns.update(setup)
        } else {
            dns = NetworkDNSServer(setup: setup, loop: loop, logger: services.logger) { [weak self] in
                guard let self, let endpoint = self.endpoint else { return nil }
                return endpoint.buildZone(now: endpoint.now, forwardsOutside: self.network.kind.isNAT)
            }
        }
    }

    func closeDNS() {
        dns?.close()
        dns = nil
        endpoint?.hostDNSAddress = nil
        endpoint?.ipv6Prefix = nil
    }
}

/// The servers NAT networks forward to: the configured ones, or the host's resolv.conf, read
/// again when its modification time or size changes (checked at most every 5 seconds).
final class HostResolvers: Sendable {
    static let shared = HostResolvers()

    private struct State {
        var path = ""
        var checked: Int64?
        var stamp: (Int, Int64)? = nil
        var servers: [UpstreamServer] = []
    }

    private let state = Mutex(State())

    func upstreams(_ configuration: Dataplane.Configuration) -> [UpstreamServer] {
        if !configuration.dnsUpstreams.isEmpty { return configuration.dnsUpstreams.compactMap(UpstreamServer.init(parsing:)) }
        let now = Int64(ProcessInfo.processInfo.systemUptime * 1000)
        return state.withLock { state in
            guard state.path != configuration.resolvConfPath || state.checked.map({ now - $0 >= 5000 }) ?? true else { return state.servers }
            state.checked = now
            let attributes = try? FileManager.default.attributesOfItem(atPath: configuration.resolvConfPath)
            let stamp = attributes.map { (($0[.size] as? Int) ?? 0, Int64((($0[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0) * 1000)) }
            if state.path == configuration.resolvConfPath, stamp?.0 == state.stamp?.0, stamp?.1 == state.stamp?.1 { return state.servers }
            state.path = configuration.resolvConfPath
            state.stamp = stamp
            // Read with a size limit: resolv.conf is a few lines; a huge file is not one.
            let text = FileManager.default.contents(atPath: configuration.resolvConfPath).flatMap { $0.count <= 65_536 ? String(decoding: $0, as: UTF8.self) : nil } ?? ""
            state.servers = ResolverConfiguration(resolvConf: text).servers
            return state.servers
        }
    }
}

extension Dataplane {
    /// Whether `text` is an upstream DNS server vnetd can use: `ADDR`, `ADDR:PORT`, `[V6]:PORT`.
    public static func isValidDNSUpstream(_ text: String) -> Bool {
        UpstreamServer(parsing: text) != nil
    }
}
