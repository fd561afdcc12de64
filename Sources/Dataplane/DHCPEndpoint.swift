import DHCP
import Domain
import Foundation
import Synchronization
import HostNet
import Packets
import Switching

/// A network's virtual DHCP server as one more port on its switch.
///
/// It answers ARP for its own address (so renewals by unicast work) and DHCP requests, and only
/// from VM ports: a request whose source was learned on the uplink is ignored, so an external
/// network never serves the LAN. Replies go straight to the port the request came from, never
/// flooded, so they reach neither other VMs nor the LAN. A reply that grants a lease waits until
/// the lease is stored (`LeasePersister`); the others leave at the end of the loop round.
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
    private var outgoing: [(frame: [UInt8], port: PortID)] = []
    private var flushScheduled = false
    private(set) var malformed: UInt64 = 0
    private(set) var ignoredFromUplink: UInt64 = 0
    private(set) var mac: MACAddress

    init(id: PortID, network: NetworkID, settings: DHCPSettings, leases: [DHCPLease], loop: EventLoop, persister: LeasePersister, clock: any Domain.Clock) {
        self.id = id
        self.network = network
        self.loop = loop
        self.persister = persister
        self.clock = clock
        self.settings = settings
        // A locally administered address derived from the port id: stable, never a VM's.
        mac = MACAddress(value: 0x02_56_4E_44_00_00 | UInt64(id.rawValue & 0xFFFF))
        server = RFC2131Server(configuration: Self.configuration(settings), leases: leases.map {
            Lease(address: $0.address, mac: $0.mac, clientID: $0.clientID, hostName: $0.hostName, expires: Int64($0.expires.timeIntervalSince1970))
        })
    }

    var handlesOffloads: Bool { true }  // it reads only ARP and DHCP, which never arrive segmented

    func update(_ settings: DHCPSettings) {
        self.settings = settings
        server.update(Self.configuration(settings))
    }

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
        // Every flooded frame of the network reaches this port: leave all but ARP and IPv4 for
        // this server (its own MAC, pinned on the switch, or broadcast) at once.
        guard ethernet.etherType == .arp || ethernet.etherType == .ipv4 else { return .sent }
        guard ethernet.destination == mac || ethernet.destination.isBroadcast else { return .sent }
        let client = ethernet.source
        guard let port = fabric?.table.port(of: client, now: loop.now) else { return .sent }
        if port == excludedPort {
            ignoredFromUplink &+= 1
            return .sent
        }
        switch ethernet.etherType {
        case .arp:
            guard let arp = ARPPacket(ethernet.payload), arp.operation == .request, arp.targetIP == settings.server else { return .sent }
            queue(ARPPacket.frame(operation: .reply, senderMAC: mac, senderIP: settings.server, targetMAC: arp.senderMAC,
                                  targetIP: arp.senderIP, destination: arp.senderMAC), to: port)
        case .ipv4:
            guard let ip = IPv4Packet(ethernet.payload), ip.protocolNumber == .udp, !ip.isFragment,
                  let udp = UDPDatagram(ip.payload), udp.destinationPort == 67 else { return .sent }
            guard let request = try? DHCPMessage(parsing: udp.payload) else {
                malformed &+= 1
                return .sent
            }
            let broadcast = ip.destination == .broadcast || ethernet.destination.isBroadcast
            let now = Int64(clock.now().timeIntervalSince1970)
            let outcome = server.handle(request, arrivedAsBroadcast: broadcast, now: now)
            let reply = outcome.reply.map { self.frame(for: $0, request: request, relayMAC: client) }
            if let change = outcome.change {
                persister.enqueue(record(change), reply: reply.map { LeasePersister.Pending(network: network, frame: $0, port: port) })
            } else if let reply {
                queue(reply, to: port)
            }
        default:
            break
        }
        return .sent
    }

    private func record(_ change: LeaseChange) -> LeaseRecord {
        switch change {
        case .bound(let lease):
            return .bound(DHCPLease(network: network, address: lease.address, mac: lease.mac, clientID: lease.clientID,
                                    hostName: lease.hostName, expires: Date(timeIntervalSince1970: TimeInterval(lease.expires))))
        case .released(let address):
            return .released(network, address)
        }
    }

    private func frame(for reply: RFC2131Server.Reply, request: DHCPMessage, relayMAC: MACAddress) -> [UInt8] {
        let maximum = max(DHCPMessage.minimumMaximumSize, request.maximumMessageSize ?? 0) - 28
        return UDPDatagram.frame(
            sourceMAC: mac, destinationMAC: reply.toRelay ? relayMAC : reply.destinationMAC, source: settings.server,
            destination: reply.destinationIP, sourcePort: 67, destinationPort: reply.toRelay ? 67 : 68,
            payload: reply.message.serialized(maximumSize: maximum))
    }

    func queue(_ frame: [UInt8], to port: PortID) {
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
            item.frame.withUnsafeBytes { fabric.forward($0, from: id, to: item.port) }
        }
    }
}

/// Writes lease changes on its own thread, a batch per transaction, and hands the replies that
/// waited for them back to the loop only after the commit: an ACK never promises a lease that a
/// crash could lose. Batching is what lets a thousand clients starting at once cost a few
/// transactions rather than a thousand fsyncs.
final class LeasePersister: @unchecked Sendable {
    struct Pending: Sendable {
        let network: NetworkID
        let frame: [UInt8]
        let port: PortID
    }

    private let store: any LeaseStore
    private let queue = Mutex<[(LeaseRecord, Pending?)]>([])
    private let wake = DispatchSemaphore(value: 0)
    private let stopped = Mutex(false)
    private let finished = DispatchSemaphore(value: 0)
    private let deliver: @Sendable ([Pending]) -> Void
    private let report: @Sendable (any Error) -> Void

    init(store: any LeaseStore, deliver: @escaping @Sendable ([Pending]) -> Void, report: @escaping @Sendable (any Error) -> Void) {
        self.store = store
        self.deliver = deliver
        self.report = report
        let thread = Thread { [self] in run() }
        thread.name = "vnetd-leases"
        thread.start()
    }

    func enqueue(_ record: LeaseRecord, reply: Pending?) {
        queue.withLock { $0.append((record, reply)) }
        wake.signal()
    }

    func stop() {
        stopped.withLock { $0 = true }
        wake.signal()
        finished.wait()
    }

    private func run() {
        while true {
            wake.wait()
            let batch = queue.withLock { items -> [(LeaseRecord, Pending?)] in
                defer { items.removeAll() }
                return items
            }
            if !batch.isEmpty {
                do {
                    try store.save(batch.map(\.0))
                    deliver(batch.compactMap(\.1))
                } catch {
                    // Not stored, so not acknowledged: the clients will ask again.
                    report(error)
                }
            }
            if stopped.withLock({ $0 }) && queue.withLock({ $0.isEmpty }) { break }
        }
        finished.signal()
    }
}
