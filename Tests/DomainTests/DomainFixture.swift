import Domain
import Foundation
import Packets
import Storage
import TestSupport

/// The domain services over a real temporary SQLite file, a manual clock, a fixed set of host
/// adapters, and a dataplane that records what it is told.
final class DomainFixture: @unchecked Sendable {
    let folder: TemporaryDirectory
    let database: VnetdDatabase
    let store: SQLiteInventoryStore
    let clock = ManualClock()
    let dataplane = RecordingDataplane()
    let random: ScriptedRandom
    let adapters: MutableAdapters
    let networks: NetworkService
    let vms: VirtualMachineService
    let bindings: AdapterService

    init(random: [UInt32] = []) throws {
        folder = try TemporaryDirectory()
        database = try VnetdDatabase(directory: folder.path)
        store = SQLiteInventoryStore(database: database)
        self.random = ScriptedRandom(random)
        adapters = MutableAdapters([
            DiscoveredAdapter(name: "eth0", mac: MACAddress(parsing: "52:54:00:aa:bb:01"), isUp: true, hasCarrier: true, speedMbps: 1000, isWireless: false),
            DiscoveredAdapter(name: "eth1", mac: MACAddress(parsing: "52:54:00:aa:bb:02"), isUp: true, hasCarrier: false, speedMbps: nil, isWireless: false),
        ])
        networks = NetworkService(store: store, clock: clock, dataplane: dataplane, adapters: adapters)
        vms = VirtualMachineService(store: store, clock: clock, dataplane: dataplane, random: self.random)
        bindings = AdapterService(store: store, clock: clock, dataplane: dataplane, discovery: adapters)
    }

    func events() throws -> [Event] {
        try SQLiteEventLog(database: database).page(offset: 0, limit: 1000).events
    }

    func nics(_ vm: VirtualMachine) throws -> [VirtualNIC] {
        try store.read { try $0.nics(of: vm.id) }
    }

    func vm(_ id: VMID) throws -> VirtualMachine? {
        try store.read { try $0.vm(id) }
    }

    deinit {
        try? database.close()
        folder.remove()
    }
}

final class RecordingDataplane: DataplaneApplying, @unchecked Sendable {
    private let lock = NSLock()
    private var recorded: [DataplaneChange] = []
    func apply(_ change: DataplaneChange) { lock.withLock { recorded.append(change) } }
    var changes: [DataplaneChange] { lock.withLock { recorded } }
}

/// Returns the scripted values first, then counts up from 1.
final class ScriptedRandom: RandomSource, @unchecked Sendable {
    private let lock = NSLock()
    private var script: [UInt32]
    private var counter: UInt32 = 0
    init(_ script: [UInt32]) { self.script = script }
    func next24Bits() -> UInt32 {
        lock.withLock {
            if !script.isEmpty { return script.removeFirst() }
            counter += 1
            return counter
        }
    }
}

final class MutableAdapters: AdapterDiscovering, @unchecked Sendable {
    private let lock = NSLock()
    private var adapters: [DiscoveredAdapter]
    init(_ adapters: [DiscoveredAdapter]) { self.adapters = adapters }
    func presentAdapters() -> [DiscoveredAdapter] { lock.withLock { adapters } }
    func unplug(_ name: String) { lock.withLock { adapters.removeAll { $0.name == name } } }
    func plug(_ adapter: DiscoveredAdapter) { lock.withLock { adapters.append(adapter) } }
}
