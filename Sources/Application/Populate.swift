import Domain
import Foundation
import HostNet
import Storage

/// Fills a data folder with generated networks and VMs through the domain services, exactly as
/// the pages would: for demonstrations and for `bench/scale.sh`.
public struct PopulationReport: Sendable {
    public var networks: Int
    public var virtualMachines: Int
    public var nics: Int
    public var seconds: Double
}

/// `socketVMs` more VMs attach to the first network as QEMU stream sockets (a mixed network);
/// `externalAdapter`, when given, is bound and makes the first network external on it.
public func populate(dataDirectory: String, networks networkCount: Int, vms vmCount: Int, nicsPerVM: Int, backend: NICBackend = .socket,
                     allowMACSpoofing: Bool = false, socketVMs: Int = 0, externalAdapter: String? = nil,
                     clock: any Domain.Clock = SystemClock()) throws -> PopulationReport {
    let started = Date()
    try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    let database = try VnetdDatabase(directory: dataDirectory)
    defer { try? database.close() }
    let store = SQLiteInventoryStore(database: database)
    let discovery = SysfsAdapterDiscovery(scanner: HostInterfaceScanner())
    let networkService = NetworkService(store: store, clock: clock, dataplane: NoDataplane(), adapters: discovery)
    let vmService = VirtualMachineService(store: store, clock: clock, dataplane: NoDataplane())
    if let externalAdapter {
        try AdapterService(store: store, clock: clock, dataplane: NoDataplane(), discovery: discovery).setBindings(bound: [externalAdapter])
    }
    var networks: [NetworkID] = []
    for index in 0..<networkCount {
        let adapter = index == 0 ? externalAdapter : nil
        networks.append(try networkService.create(NetworkDraft(name: String(format: "Network %04d", index), adapter: adapter, notes: "")).id)
    }
    var nicCount = 0
    for index in 0..<vmCount {
        let first = networks.isEmpty ? nil : networks[index % networks.count]
        let vm = try vmService.create(name: String(format: "VM %04d", index), notes: "", connectingTo: first)
        nicCount += 1
        var version = vm.version
        if backend != .socket || allowMACSpoofing, let nic = try store.read({ try $0.nics(of: vm.id) }).first {
            try vmService.configureNICs(of: vm.id, version: version, [
                NICSetting(nicID: nic.id, networkID: first, assignment: .dynamic, backend: backend, allowsMACSpoofing: allowMACSpoofing),
            ])
            version += 1
        }
        for extra in 1..<max(1, min(nicsPerVM, MACRules.maximumNICsPerVM)) {
            let nic = try vmService.addNIC(to: vm.id, version: version)
            version += 1
            if !networks.isEmpty {
                try vmService.configureNICs(of: vm.id, version: version, [
                    NICSetting(nicID: nic.id, networkID: networks[(index + extra * 7) % networks.count], assignment: .dynamic, backend: backend,
                               allowsMACSpoofing: allowMACSpoofing),
                ])
                version += 1
            }
            nicCount += 1
        }
    }
    for index in 0..<socketVMs {
        _ = try vmService.create(name: String(format: "Socket VM %04d", index), notes: "", connectingTo: networks.first)
        nicCount += 1
    }
    return PopulationReport(networks: networkCount, virtualMachines: vmCount + socketVMs, nics: nicCount, seconds: Date().timeIntervalSince(started))
}
