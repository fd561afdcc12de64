import DHCP
import DNS
import Domain
import Foundation
import Synchronization
import HostNet
import Packets
import Switching

/// A network's virtual DHCP server as one more port on its switch.
///
/// It answers ARP for its own address (and for a former one being retired, so renewals by
/// unicast work) and DHCP requests, and only from VM ports: a request whose source was learned
/// on the uplink is ignored, so an external network never serves the LAN. A VM port speaks for
/// its own NIC only: unless the NIC may spoof MACs, a request for another hardware address or
/// through a relay is dropped and counted, and each port holds a bounded number of bindings, so
/// no VM can release another's lease or drain the pool. Replies go straight to the port the
/// request came from, never flooded. An offer of an address not probed lately waits for an ARP
/// probe on the whole network (VMs and LAN) without holding up other clients; a host that
/// answers marks the address in use and the client is offered another. A reply that grants a
/// lease waits until the lease is stored (`LeasePersister`); the others leave at the end of the
/// loop round.
final class DHCPEndpoint: FrameSink, Flushable {
    let id: PortID
    let network: NetworkID
    unowned let loop: EventLoop
    let persister: LeasePersister
    let clock: any Domain.Clock
    weak var fabric: VirtualSwitch?
    /// The uplink's port: requests from there are not ours to answer.
    var excludedPort: PortID?
    private(set) var settings: DHCPSettings
    let server: RFC2131Server
    /// Guest-only, host and NAT networks: this server is the only one (see `RFC2131Server`).
    private(set) var isAuthoritative: Bool
    /// Frames for one port, or (nil) flooded to the whole network.
    private var outgoing: [(frame: [UInt8], port: PortID?)] = []
    private var probes = ProbeQueue<(pending: PendingOffer, reply: [UInt8])>()
    private var probeTimerArmed = false
    /// DISCOVERs dropped unanswered because the server was behind (see `isOverloaded`).
    private(set) var shedDiscovers: UInt64 = 0
    private let noticeLimiter = OperationalEventLimiter(interval: 60)
    /// Things an administrator should hear about, at most once a minute each.
    var report: (RFC2131Server.Notice) -> Void = { _ in }
    private(set) var foreignHardware: UInt64 = 0
    /// For the zone's default domain.
    var networkName: String { didSet { zoneBuilt = nil } }
    /// Each NIC's VM name (the dataplane keeps it current).
    var vmNames: [MACAddress: String] = [:] { didSet { zoneBuilt = nil } }
    var zone: DNSResponder?
    var zoneBuilt: Int64?
    /// The zone as the network page lists it: built at most every 5 seconds when a status
    /// snapshot is copied (`DataplaneShard+Status`), whether or not anyone asked for a name.
    var listedZone: Zone?
    var listedZoneBuilt: Int64?
    var dnsQueries: UInt64 = 0
    /// IPv6 addresses each VM NIC claimed (DHCPEndpoint+IPv6), newest last.
    var ipv6Addresses: [MACAddress: [IPv6Address]] = [:] { didSet { zoneBuilt = nil } }
    /// The network's /64 (its upper 64 bits) on host and NAT networks: only addresses in it name a VM.
    var ipv6Prefix: UInt64? {
        didSet { if ipv6Prefix != oldValue { ipv6Addresses = ipv6Addresses.mapValues { $0.filter { NeighborDiscovery.isNameable($0, prefix: ipv6Prefix) } } } }
    }
    /// On host and NAT networks: the host interface's address, the network's DNS server.
    var hostDNSAddress: IPv4Address? {
        didSet { if hostDNSAddress != oldValue { update(settings, authoritative: isAuthoritative) } }
    }
    private var flushScheduled = false
    private(set) var malformed: UInt64 = 0
    private(set) var ignoredFromUplink: UInt64 = 0
    private(set) var mac: MACAddress
    /// Host and NAT networks: the host interface's MAC. The kernel owns the server's address
    /// there, so ARP for it is left to the kernel, replies come from this MAC, and requests sent
    /// to it (handed over by `HostInterface`) are answered.
    var hostInterfaceMAC: MACAddress?

    /// How long an offer waits for an answer to its ARP probe: a VM or LAN host answers within
    /// milliseconds; a quarter second keeps a thousand clients starting at once well under a
    /// second and a half.
    static let probeWaitMilliseconds: Int64 = 250
    /// Bindings a port may hold: a NIC needs one (a spare for a client identifier change). A
    /// NIC the administrator lets spoof MACs speaks for others by design (a nested bridge, a
    /// relay, a load generator) and is limited by the pool alone.
    static let bindingsPerNIC = 4, bindingsPerSpoofingPort = Int.max

    init(id: PortID, network: NetworkID, networkName: String, settings: DHCPSettings, authoritative: Bool, leases: [DHCPLease],
         holds: [DHCPHold] = [], loop: EventLoop, persister: LeasePersister, clock: any Domain.Clock) {
        self.isAuthoritative = authoritative
        self.networkName = networkName
        self.id = id
        self.network = network
        self.loop = loop
        self.persister = persister
        self.clock = clock
        self.settings = settings
        // A locally administered address derived from the port id: stable, never a VM's.
        mac = MACAddress(value: 0x02_56_4E_44_00_00 | UInt64(id.rawValue & 0xFFFF))
        let configuration = Self.configuration(settings, authoritative: authoritative, networkName: networkName, dnsServer: nil)
        server = RFC2131Server(configuration: configuration, leases: leases.map {
            Lease(address: $0.address, mac: $0.mac, clientID: $0.clientID, hostName: $0.hostName, expires: Int64($0.expires.timeIntervalSince1970))
        }, holds: holds.map { ($0.address, until: Int64($0.until.timeIntervalSince1970)) })
        let network = network
        if !server.staleAtLoad.isEmpty { persister.enqueue(server.staleAtLoad.map { Self.record($0, network: network) }, reply: nil) }
    }

    var handlesOffloads: Bool { true }  // it reads only ARP and DHCP, which never arrive segmented

    func update(_ settings: DHCPSettings, authoritative: Bool) {
        self.settings = settings
        isAuthoritative = authoritative
        zoneBuilt = nil
        server.update(Self.configuration(settings, authoritative: authoritative, networkName: networkName, dnsServer: hostDNSAddress), now: now)
    }

    /// What the server hands out: the settings, and where this server answers names (see
    /// `DHCPEndpoint+DNS`) itself as DNS server and its zone as domain, unless the administrator
    /// gave others. On host and NAT networks the DNS server is the host interface (`dnsServer`).
    static func configuration(_ settings: DHCPSettings, authoritative: Bool, networkName: String, dnsServer: IPv4Address?) -> DHCPConfiguration {
        var configuration = Self.configuration(settings)
        configuration.isAuthoritative = authoritative
        if authoritative {
            if configuration.dnsServers.isEmpty { configuration.dnsServers = [dnsServer ?? settings.server] }
            if configuration.domainName?.isEmpty ?? true { configuration.domainName = defaultDomain(networkName: networkName) }
        }
        return configuration
    }

    func zoneNeedsBuilding(now: Int64) -> Bool {
        zoneBuilt.map { $0 + 1 <= now } ?? true
    }

    var now: Int64 { Int64(clock.now().timeIntervalSince1970) }

    /// The domain's settings as the server reads them. Reservations kept outside the network
    /// after a scope change are not handed out. Clients that take classless routes ignore the
    /// router option (RFC 3442 §4), so the default gateway rides along as 0.0.0.0/0 there.
    static func configuration(_ settings: DHCPSettings) -> DHCPConfiguration {
        var routes = settings.classlessRoutes.map {
            DHCPConfiguration.ClasslessRoute(destination: $0.destination, prefixLength: $0.prefixLength, router: $0.router)
        }
        if let gateway = settings.gateway, !routes.isEmpty, !routes.contains(where: { $0.prefixLength == 0 }) {
            routes.append(DHCPConfiguration.ClasslessRoute(destination: .any, prefixLength: 0, router: gateway))
        }
        let boot = settings.boot.isEmpty ? nil : DHCPConfiguration.NetworkBoot(
            nextServer: settings.boot.nextServer, biosFile: settings.boot.biosFile, uefiFile: settings.boot.uefiFile, ipxeFile: settings.boot.ipxeFile)
        let reservations = settings.reservations.filter { DHCPRules.isReservable($0.address, in: settings) }.map {
            ($0.mac, DHCPConfiguration.Reservation(address: $0.address, hostName: $0.hostName.isEmpty ? nil : $0.hostName))
        }
        return DHCPConfiguration(
            network: settings.network, mask: settings.mask, rangeStart: settings.rangeStart, rangeEnd: settings.rangeEnd,
            server: settings.server, gateway: settings.gateway, dnsServers: settings.dnsServers, winsServers: settings.winsServers,
            leaseTime: UInt32(clamping: settings.leaseTime), renewalTime: UInt32(clamping: settings.renewalTime),
            rebindingTime: UInt32(clamping: settings.rebindingTime),
            reservations: Dictionary(reservations, uniquingKeysWith: { first, _ in first }),
            domainName: settings.domainName, searchDomains: settings.searchDomains, classlessRoutes: routes,
            mtu: settings.mtu.map { UInt16(clamping: $0) }, ntpServers: settings.ntpServers, boot: boot)
    }

    func send(_ frame: UnsafeRawBufferPointer, offload: OffloadInfo) -> SendResult {
        guard let ethernet = EthernetFrame(frame) else {
            malformed &+= 1
            return .sent
        }
        if ethernet.etherType == .ipv6 {
            noteNeighborDiscovery(frame)
            return .sent
        }
        // Every flooded frame of the network reaches this port: leave all but ARP and IPv4 for
        // this server (its own MAC, pinned on the switch, or broadcast) at once.
        guard ethernet.etherType == .arp || ethernet.etherType == .ipv4 else { return .sent }
        guard ethernet.destination == mac || ethernet.destination.isBroadcast || ethernet.destination == hostInterfaceMAC else { return .sent }
        let arp = ethernet.etherType == .arp ? ARPPacket(ethernet.payload) : nil
        // Any host, VM or LAN, that speaks from an address being probed is using it.
        if let arp, !probes.isEmpty, let waiting = probes.item(probing: arp.senderIP), arp.senderMAC != waiting.pending.client {
            probeAnswered(arp.senderIP, by: arp.senderMAC)
        }
        let client = ethernet.source
        guard let port = fabric?.table.port(of: client, now: loop.now) else { return .sent }
        if port == excludedPort {
            ignoredFromUplink &+= 1
            return .sent
        }
        switch ethernet.etherType {
        case .arp:
            guard let arp, arp.operation == .request,
                  arp.targetIP == settings.server && hostInterfaceMAC == nil || server.isRetiringAddresses && server.isFormerServer(arp.targetIP, now: now) else { return .sent }
            queue(ARPPacket.frame(operation: .reply, senderMAC: mac, senderIP: arp.targetIP, targetMAC: arp.senderMAC,
                                  targetIP: arp.senderIP, destination: arp.senderMAC), to: port)
        case .ipv4:
            guard let ip = IPv4Packet(ethernet.payload), ip.protocolNumber == .udp, !ip.isFragment,
                  let udp = UDPDatagram(ip.payload) else { return .sent }
            if udp.destinationPort == 53, servesNames, ip.destination == settings.server, ethernet.destination == mac {
                answerDNS(udp, from: ip, client: client, port: port)
                return .sent
            }
            guard udp.destinationPort == 67 else { return .sent }
            guard let request = try? DHCPMessage(parsing: udp.payload) else {
                malformed &+= 1
                return .sent
            }
            guard let origin = origin(of: port, for: request) else {
                foreignHardware &+= 1
                return .sent
            }
            if request.messageType == .discover, isOverloaded {
                shedDiscovers &+= 1
                return .sent
            }
            let broadcast = ip.destination == .broadcast || ethernet.destination.isBroadcast
            let pending = PendingOffer(request: request, broadcast: broadcast, destination: ip.destination, port: port,
                                       origin: origin, client: client, attempts: 0)
            handle(pending)
        default:
            break
        }
        return .sent
    }

    /// What a port may ask for: a VM port only for its own NIC's hardware address and never
    /// through a relay, unless its NIC may spoof MACs. Nil: the request is not the port's to make.
    private func origin(of port: PortID, for request: DHCPMessage) -> RFC2131Server.Origin? {
        switch fabric?.role(of: port) {
        case .vm(let nicMAC, let allowsSpoofing)?:
            if allowsSpoofing { return .init(port: port.rawValue, bindingLimit: Self.bindingsPerSpoofingPort) }
            guard request.clientHardwareAddress == nicMAC, request.relayAddress == .any else { return nil }
            return .init(port: port.rawValue, bindingLimit: Self.bindingsPerNIC)
        case .uplink?, .service?, nil:
            return nil
        case .plain?:
            return .init(port: port.rawValue, bindingLimit: Self.bindingsPerSpoofingPort)
        }
    }

    /// A request, or a DISCOVER handled again after its probe found the address in use.
    struct PendingOffer {
        let request: DHCPMessage
        let broadcast: Bool
        let destination: IPv4Address
        let port: PortID
        let origin: RFC2131Server.Origin
        /// The client's Ethernet source: the agent's when relayed; its own ARP is no conflict.
        let client: MACAddress
        var attempts: Int
    }

    /// Under overload new DISCOVERs wait (the client retransmits) so that clients already
    /// offered an address complete: dropping both halves of exchanges evenly is what made the
    /// completed rate collapse. Behind means many lease writes or probes outstanding.
    private var isOverloaded: Bool {
        persister.backlog > Self.sheddingBacklog || probes.count > Self.sheddingBacklog
    }

    static let sheddingBacklog = 4_096

    private func handle(_ pending: PendingOffer) {
        let now = self.now
        let outcome = server.handle(pending.request, arrivedAsBroadcast: pending.broadcast, now: now, origin: pending.origin,
                                    addressedTo: pending.destination)
        outcome.notices.forEach(notify)
        let reply = outcome.reply.map { frame(for: $0, request: pending.request, relayMAC: pending.client) }
        let network = network
        let records = outcome.changes.map { Self.record($0, network: network) }
        if let address = outcome.probe, let reply {
            if !records.isEmpty { persister.enqueue(records, reply: nil) }
            // A retransmitted DISCOVER while its probe runs: the offer is on its way.
            guard probes.add((pending, reply), probing: address, due: loop.now + Self.probeWaitMilliseconds) else { return }
            queue(ARPPacket.frame(operation: .request, senderMAC: mac, senderIP: .any, targetMAC: .zero, targetIP: address,
                                  destination: .broadcast), to: nil)
            armProbeTimer()
            return
        }
        if !records.isEmpty {
            persister.enqueue(records, reply: reply.map { LeasePersister.Pending(network: network, frame: $0, port: pending.port) })
        } else if let reply {
            queue(reply, to: pending.port)
        }
    }

    private func armProbeTimer() {
        guard !probeTimerArmed, let due = probes.nextDue else { return }
        probeTimerArmed = true
        loop.runAfter(milliseconds: max(0, due - loop.now)) { [weak self] in self?.probesDue() }
    }

    /// No answer in time: the address is free of static hosts; the offer goes out.
    private func probesDue() {
        probeTimerArmed = false
        let now = self.now
        for (address, waiting) in probes.due(at: loop.now) {
            server.probeSucceeded(address, now: now)
            queue(waiting.reply, to: waiting.pending.port)
        }
        armProbeTimer()
    }

    private func probeAnswered(_ address: IPv4Address, by holder: MACAddress) {
        guard var pending = probes.remove(address)?.pending else { return }
        let (notice, hold) = server.conflict(address, heardFrom: holder, now: now)
        notify(notice)
        persister.enqueue([Self.record(hold, network: network)], reply: nil)
        // Offer another address, a few times at most: a network full of static hosts in the
        // range must not keep one DISCOVER probing forever.
        pending.attempts += 1
        if pending.attempts < 4 { handle(pending) }
    }

    private func notify(_ notice: RFC2131Server.Notice) {
        guard noticeLimiter.admit(key: "\(notice)", now: clock.now().timeIntervalSince1970) != nil else { return }
        report(notice)
    }

    /// An administrator released the lease on `address`.
    func revoke(_ address: IPv4Address) {
        server.revoke(address, now: now)
    }

    /// Every ten seconds from the dataplane's tick.
    func tick() {
        server.tick(now: now)
    }

    static func record(_ change: LeaseChange, network: NetworkID) -> LeaseRecord {
        switch change {
        case .bound(let lease):
            return .bound(DHCPLease(network: network, address: lease.address, mac: lease.mac, clientID: lease.clientID,
                                    hostName: lease.hostName, expires: Date(timeIntervalSince1970: TimeInterval(lease.expires))))
        case .released(let address):
            return .released(network, address)
        case .held(let address, let until):
            return .held(network, address, until: Date(timeIntervalSince1970: TimeInterval(until)))
        }
    }

    /// The reply as a frame. Its size follows the client's option 57 but never exceeds the
    /// network's MTU (option 26, else Ethernet's 1,500), which the client's own figure may.
    private func frame(for reply: RFC2131Server.Reply, request: DHCPMessage, relayMAC: MACAddress) -> [UInt8] {
        let link = settings.mtu ?? 1_500
        let maximum = min(max(DHCPMessage.minimumMaximumSize, request.maximumMessageSize ?? 0), max(DHCPMessage.minimumMaximumSize, link)) - 28
        return UDPDatagram.frame(
            sourceMAC: hostInterfaceMAC ?? mac, destinationMAC: reply.toRelay ? relayMAC : reply.destinationMAC, source: reply.sourceIP,
            destination: reply.destinationIP, sourcePort: 67, destinationPort: reply.toRelay ? 67 : 68,
            payload: reply.message.serialized(maximumSize: maximum))
    }

    func queue(_ frame: [UInt8], to port: PortID?) {
        outgoing.append((frame, port))
        if !flushScheduled {
            flushScheduled = true
            loop.markDirty(self)
        }
    }

    func flushOutput() {
        flushScheduled = false
        let batch = outgoing
        outgoing.removeAll(keepingCapacity: true)
        guard let fabric else { return }
        for item in batch {
            item.frame.withUnsafeBytes { frame in
                if let port = item.port {
                    fabric.forward(frame, from: id, to: port)
                } else {
                    fabric.receive(frame, from: id, now: loop.now)
                }
            }
        }
    }
}
