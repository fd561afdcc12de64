import AdminSite
import Application
import Dataplane
import Domain
import Foundation
import Logging
import TestSupport
import WebServer

/// A real vnetd (HTTP server, store, switching core) on a temporary data folder.
final class VnetdUnderTest {
    let folder: TemporaryDirectory
    private(set) var application: VnetdApplication
    let configuration: Configuration

    init(adapters: [DiscoveredAdapter]? = nil) throws {
        folder = try TemporaryDirectory()
        var logger = Logger(label: "it")
        logger.logLevel = .critical
        configuration = Configuration(
            listen: ListenAddress(host: "127.0.0.1", port: 0),
            dataDirectory: folder.path + "/data",
            templatesDirectory: repositoryRoot + "/Templates",
            publicDirectory: repositoryRoot + "/Public",
            threads: 2,
            adapterDiscovery: adapters.map(FixedAdapters.init))
        application = try buildApplication(configuration, logger: logger)
    }

    var services: SiteDependencies { application.services }

    func restart() throws {
        application.shutdown()
        var logger = Logger(label: "it")
        logger.logLevel = .critical
        application = try buildApplication(configuration, logger: logger)
    }

    /// Waits for posted dataplane changes to take effect.
    func settle() { application.dataplane.settle() }

    func nic(of vm: VirtualMachine) throws -> VirtualNIC {
        guard let nic = try services.store.read({ try $0.nics(of: vm.id) }).first else {
            throw CommandFailure(description: "VM has no NIC")
        }
        return nic
    }

    /// Creates a VM with one TAP adapter on `network`, returns the VM and its TAP's name.
    func tapVM(_ name: String, on network: NetworkID?) throws -> (VirtualMachine, String) {
        let vm = try services.vms.create(name: name, notes: "", connectingTo: network)
        let nic = try nic(of: vm)
        try services.vms.configureNICs(of: vm.id, version: try services.store.read { try $0.vm(vm.id) }!.version, [
            NICSetting(nicID: nic.id, networkID: network, assignment: .dynamic, backend: .tap),
        ])
        settle()
        return (vm, Dataplane.tapName(nic.id))
    }

    deinit {
        application.shutdown()
        folder.remove()
    }
}
