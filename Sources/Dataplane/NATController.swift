import Domain
import Foundation
import HostSetup
import Logging
import Packets
import Synchronization

/// vnetd's nftables table and forwarding switches for host and NAT networks, kept on a thread of
/// its own (each apply is a few netlink round trips; the frame path never waits for it).
///
/// Lifecycle: `update` after every change; a refresh every few seconds follows the default
/// route, the VMs' leases (port forward targets) and the counters. The table is replaced whole
/// only when its text changes, counters carried over, so a table left by a killed vnetd is
/// adopted with its counts. `stop` (clean shutdown) removes the table and turns the switches it
/// turned on back off.
final class NATController: @unchecked Sendable {
    struct NetworkState: Sendable {
        var network: VirtualNetwork
        var scope: DHCPSettings?
        var forwards: [PortForward] = []
    }

    private let queue = DispatchQueue(label: "vnetd-nat")
    private let logger: Logger
    private let leaseStore: any LeaseStore
    private let nft: Nftables?
    private let status = Mutex([NetworkID: NATStatus]())
    // Queue state.
    private var networks: [NetworkID: NetworkState] = [:]
    private var installed: String?
    /// The first refresh has looked for a table left by an earlier vnetd.
    private var adopted = false
    /// A table of ours may be in the kernel (installed, or found at start): only then does `stop`
    /// remove one, so a vnetd without host networks never writes to nftables at all.
    private var mayHaveTable = false
    /// Switches this vnetd turned on, with the value each had before.
    private var turnedOn: [String: Bool] = [:]
    private var timer: DispatchSourceTimer?
    private var stopped = false

    static let refreshSeconds = 3

    /// The switches turned on, one `family|forwarding|interface` a line, so a vnetd that follows
    /// a killed one still turns them back off at its clean stop.
    private let stateFile: String?

    init(logger: Logger, leaseStore: any LeaseStore, stateFile: String? = nil) {
        self.logger = logger
        self.leaseStore = leaseStore
        self.stateFile = stateFile
        if let stateFile, let text = try? String(contentsOfFile: stateFile, encoding: .utf8) {
            for line in text.split(separator: "\n") where line.split(separator: "|").count == 3 { turnedOn[String(line)] = false }
        }
        nft = Nftables()
        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .now() + .seconds(Self.refreshSeconds), repeating: .seconds(Self.refreshSeconds))
        timer.setEventHandler { [weak self] in self?.refresh() }
        timer.resume()
        self.timer = timer
    }

    func status(of network: NetworkID) -> NATStatus? {
        status.withLock { $0[network] }
    }

    // MARK: changes, from the coordinator

    func networkChanged(_ network: VirtualNetwork) {
        queue.async { [self] in
            if network.kind.hasHostInterface {
                networks[network.id, default: NetworkState(network: network)].network = network
            } else {
                networks[network.id] = nil
            }
            refreshSoon()
        }
    }

    func networkRemoved(_ id: NetworkID) {
        queue.async { [self] in
            networks[id] = nil
            refreshSoon()
        }
    }

    func scopeChanged(_ id: NetworkID, _ scope: DHCPSettings) {
        queue.async { [self] in
            networks[id]?.scope = scope
            refreshSoon()
        }
    }

    func forwardsChanged(_ id: NetworkID, _ forwards: [PortForward]) {
        queue.async { [self] in
            networks[id]?.forwards = forwards
            refreshSoon()
        }
    }

    func start(forwards: [PortForward]) {
        queue.async { [self] in
            for (id, list) in Dictionary(grouping: forwards, by: \.network) { networks[id]?.forwards = list }
            refresh()
        }
    }

    /// Host interfaces appear a moment after their network (on the loop): look again shortly.
    private func refreshSoon() {
        refresh()
        queue.asyncAfter(deadline: .now() + .milliseconds(300)) { [weak self] in self?.refresh() }
    }

    /// Removes the table and turns back off the switches vnetd turned on. Clean shutdown only.
    func stop() {
        queue.sync {
            stopped = true
            timer?.cancel()
            if installed != nil || mayHaveTable, let nft {
                do { try nft.run(NATRuleset.removal) } catch { logger.error("could not remove nftables table inet vnetd", metadata: ["error": "\(error)"]) }
            }
            for (path, before) in turnedOn where !before {
                let parts = path.split(separator: "|")
                if parts.count == 3, let family = HostRouting.Family(rawValue: String(parts[0])) {
                    _ = HostRouting.setForwarding(family, interface: String(parts[2]), false)
                }
            }
            turnedOn.removeAll()
            if let stateFile { try? FileManager.default.removeItem(atPath: stateFile) }
            installed = nil
        }
    }

    // MARK: on the queue

    private func refresh() {
        guard !stopped else { return }
        let natNetworks = networks.values.filter { $0.network.kind.hasHostInterface }
        guard !natNetworks.isEmpty || installed != nil || !adopted else { return }
        guard let nft else {
            publish(problem: "libnftables could not be initialised: host and NAT networks get no firewall rules.", ruleset: nil, counters: [:], outbound: [:], switches: [:])
            return
        }
        let defaultRoute = HostRouting.defaultRouteInterface()
        var ruleNetworks: [NATRuleset.Network] = []
        var outbound: [NetworkID: String?] = [:]
        var switches: [NetworkID: [String]] = [:]
        var wanted: [NetworkID: [(HostRouting.Family, String)]] = [:]
        for state in natNetworks {
            guard let scope = state.scope else { continue }
            let interface = HostInterfaceSettings.interfaceName(for: state.network.id)
            var out: String?
            if state.network.kind.isNAT {
                out = state.network.kind.natOutbound ?? defaultRoute
                if let name = out, !NATRuleset.isSafeInterfaceName(name) { out = nil }
                outbound[state.network.id] = out
            }
            let targets = out == nil ? [:] : addresses(of: state, scope: scope)
            ruleNetworks.append(NATRuleset.Network(
                tag: Self.tag(state.network.id), interface: interface, subnet: scope.network, prefixLength: scope.prefixLength,
                ipv6Prefix: state.network.hostInterface.ipv6Prefix?.description, outbound: out,
                forwards: state.forwards.map {
                    NATRuleset.Forward(id: $0.id, proto: $0.proto.rawValue, hostAddress: $0.hostAddress, hostPort: $0.hostPort,
                                       target: targets[$0.mac], targetPort: $0.guestPort)
                }))
            if let out {
                wanted[state.network.id] = [(HostRouting.Family.ipv4, interface), (.ipv4, out)]
                    + (state.network.hostInterface.ipv6Prefix == nil ? [] : [(.ipv6, interface), (.ipv6, out)])
            }
        }
        let ruleset = NATRuleset(networks: ruleNetworks.sorted { $0.tag < $1.tag })
        var counters = nft.counters()
        if !adopted {
            adopted = true
            if nft.listTable() != nil {
                mayHaveTable = true
                logger.notice("nftables table inet vnetd found from an earlier run: adopted, its counters kept")
            }
        }
        let text = ruleset.commands(counters: counters)
        let shape = ruleset.commands()
        var problem: String?
        if ruleNetworks.isEmpty {
            if installed != nil || mayHaveTable {
                do {
                    try nft.run(NATRuleset.removal)
                    mayHaveTable = false
                } catch { problem = "\(error)" }
            }
            installed = nil
        } else if shape != installed {
            do {
                try nft.run(text)
                installed = shape
                mayHaveTable = true
                logger.info("nftables table inet vnetd installed", metadata: ["networks": "\(ruleNetworks.count)"])
            } catch {
                installed = nil
                problem = Self.explain(error)
                logger.error("could not install nftables table inet vnetd", metadata: ["error": "\(error)"])
            }
            counters = nft.counters()
        }
        // Forwarding only once the table that confines it is in place, and only on a network whose
        // host interface exists (vnetd's own TAP is there): never the outbound interface alone.
        if installed != nil {
            for (id, pairs) in wanted where HostRouting.forwarding(.ipv4, interface: HostInterfaceSettings.interfaceName(for: id)) != nil {
                switches[id] = pairs.compactMap { family, name in
                    turnOn(family, name) ? HostRouting.forwardingPath(family, interface: name).replacingOccurrences(of: "/proc/sys/", with: "").replacingOccurrences(of: "/", with: ".") : nil
                }
            }
        }
        publish(problem: problem, ruleset: installed == nil ? nil : ruleset, counters: counters, outbound: outbound, switches: switches)
    }

    private func turnOn(_ family: HostRouting.Family, _ interface: String) -> Bool {
        let key = "\(family.rawValue)|forwarding|\(interface)"
        guard let current = HostRouting.forwarding(family, interface: interface) else { return false }
        if current { return true }
        if turnedOn[key] == nil {
            turnedOn[key] = current
            if let stateFile {
                try? turnedOn.filter { !$0.value }.keys.sorted().joined(separator: "\n").write(toFile: stateFile, atomically: true, encoding: .utf8)
            }
        }
        return HostRouting.setForwarding(family, interface: interface, true)
    }

    /// Each NIC's IPv4 address now: its reservation, else its newest lease.
    private func addresses(of state: NetworkState, scope: DHCPSettings) -> [MACAddress: IPv4Address] {
        var result: [MACAddress: IPv4Address] = [:]
        if let leases = try? leaseStore.leases(of: state.network.id) {
            for lease in leases.sorted(by: { $0.expires < $1.expires }) where lease.expires > Date() { result[lease.mac] = lease.address }
        }
        for reservation in scope.reservations { result[reservation.mac] = reservation.address }
        return result
    }

    private func publish(problem: String?, ruleset: NATRuleset?, counters: [String: NATRuleset.Counter],
                         outbound: [NetworkID: String?], switches: [NetworkID: [String]]) {
        var next: [NetworkID: NATStatus] = [:]
        for (id, state) in networks where state.network.kind.isNAT {
            let tag = Self.tag(id)
            let masq4 = counters[NATRuleset.masqueradeCounter(tag, ipv6: false)]
            let masq6 = counters[NATRuleset.masqueradeCounter(tag, ipv6: true)]
            let rules = ruleset.map { set in
                set.commands().split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
                    .filter { $0.contains(HostInterfaceSettings.interfaceName(for: id)) || $0.contains(tag) }
            } ?? []
            let network = ruleset?.networks.first { $0.tag == tag }
            var missing = problem
            if missing == nil, state.scope == nil { missing = "The network has no DHCP scope yet, so there is no subnet to masquerade." }
            if missing == nil, outbound[id] == nil || outbound[id]! == nil {
                missing = "No outbound interface: the host has no default route" + (state.network.kind.natOutbound.map { " and \($0) cannot be used" } ?? "") + "."
            }
            let connections = [false, true].compactMap { counters[NATRuleset.connectionCounter(tag, ipv6: $0)]?.packets }.reduce(0, +)
            next[id] = NATStatus(
                isInstalled: ruleset != nil && network != nil, problem: missing, outbound: outbound[id] ?? nil,
                masqueradedPackets: masq4?.packets ?? 0, masqueradedBytes: masq4?.bytes ?? 0,
                masqueradedPackets6: masq6?.packets ?? 0, masqueradedBytes6: masq6?.bytes ?? 0,
                forwardingSwitches: switches[id] ?? [],
                forwards: (network?.forwards ?? []).map { NATStatus.Forward(id: $0.id, target: $0.target, hits: counters[NATRuleset.forwardCounter($0.id)]?.packets ?? 0) },
                rules: rules)
            next[id]?.connections = connections
        }
        status.withLock { $0 = next }
    }

    static func tag(_ id: NetworkID) -> String {
        String(id.rawValue.filter(\.isHexDigit).prefix(11)).lowercased()
    }

    static func explain(_ error: Nftables.Failure) -> String {
        let text = error.message
        if text.contains("Operation not permitted") || text.contains("Permission denied") {
            return "Needs CAP_NET_ADMIN: run vnetd as root, or give it the capability (setcap cap_net_admin,cap_net_raw+ep), to install its nftables table for NAT."
        }
        return "nftables refused vnetd's table: \(text)"
    }
}
