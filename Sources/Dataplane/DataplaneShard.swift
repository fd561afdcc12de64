import DHCP
import Domain
import Foundation
import HostNet
import Packets
import Switching
import Synchronization

/// One event loop of the data path and everything it serves: the runtimes of its networks and
/// the ports of their NICs (and of NICs connected to no network that were left here).
///
/// Threading: everything below `// Loop-thread state` is touched only on this loop's thread;
/// the coordinator (`Dataplane`) posts changes to it. Its status snapshot is published for
/// request threads behind a lock of its own, which no other loop takes.
final class DataplaneShard: @unchecked Sendable {
    let index: Int
    let loop: EventLoop
    let services: DataplaneServices
    var persister: LeasePersister!
    let snapshot = Mutex(StatusSnapshot())
    /// Where snapshots are made from the copies the loop takes (`publish`).
    let statusQueue: DispatchQueue

    // Loop-thread state.
    var runtimes: [NetworkID: NetworkRuntime] = [:]
    var nics: [NICID: NICPort] = [:]
    var vmNames: [VMID: String] = [:]
    var namesByMAC: [MACAddress: String] = [:]
    var ticks = 0
    var publishPending = false
    var lastPublished: Int64 = 0
    static let publishInterval: Int64 = 100

    init(index: Int, services: DataplaneServices) throws {
        self.index = index
        self.services = services
        statusQueue = DispatchQueue(label: "vnetd.status.\(index)")
        loop = try EventLoop(logger: services.logger)
        loop.tick = { [unowned self] now in tick(now) }
    }

    func start(name: String) {
        loop.start(name: name)
    }

    // MARK: networks, on the loop thread

    func addNetwork(_ network: VirtualNetwork, uplinkAdapter: String?) {
        let runtime = runtimes[network.id] ?? NetworkRuntime(network: network, shard: self)
        runtimes[network.id] = runtime
        runtime.network = network
        runtime.syncExtraPorts(uplinkAdapter: uplinkAdapter)
    }

    func changeNetwork(_ network: VirtualNetwork, uplinkAdapter: String?) {
        guard let runtime = runtimes[network.id] else { return addNetwork(network, uplinkAdapter: uplinkAdapter) }
        runtime.network = network
        runtime.syncExtraPorts(uplinkAdapter: uplinkAdapter)
        runtime.networkChanged()
        runtime.syncHostServices()
    }

    func changeUplink(of network: NetworkID, to adapter: String?) {
        runtimes[network]?.syncExtraPorts(uplinkAdapter: adapter)
    }

    /// Its NICs stay here, connected to nothing, until the domain says otherwise.
    func removeNetwork(_ id: NetworkID) {
        guard let runtime = runtimes[id] else { return }
        for port in nics.values where port.memberOf == id || port.nic.networkID == id {
            leaveSwitch(port)
            port.nic.networkID = nil
        }
        runtime.close()
        runtimes[id] = nil
    }

    func changeDHCP(_ id: NetworkID, _ settings: DHCPSettings) {
        runtimes[id]?.changeDHCP(settings)
        runtimes[id]?.syncHostServices()
    }

    func shareNames(_ vmNames: [VMID: String], byMAC names: [MACAddress: String]) {
        self.vmNames = vmNames
        namesByMAC = names
        for runtime in runtimes.values { runtime.refreshNames() }
    }

    /// Replies whose leases are now stored, back on the loop thread.
    func deliverStoredReplies(_ replies: [LeasePersister.Pending]) {
        for reply in replies {
            runtimes[reply.network]?.endpoint?.queue(reply.frame, to: reply.port)
        }
    }

    func tick(_ now: Int64) {
        for runtime in runtimes.values { runtime.tick(now: now, second: ticks) }
        ticks += 1
        publish()
    }

    func closeAll() {
        for port in nics.values { port.backend?.close() }
        for runtime in runtimes.values { runtime.close() }
        nics.removeAll()
        runtimes.removeAll()
    }
}
