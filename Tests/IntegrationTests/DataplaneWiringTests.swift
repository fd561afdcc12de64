import Domain
import Foundation
import Packets
import Switching
import Testing
import TestSupport

/// Where the data path puts a NIC after page saves: always, and only, in the switch of the
/// network the store says. Sockets need no privileges.
@Suite("NICs sit in the switch the store says")
struct DataplaneWiringTests {
    @Test func changingAttachesAsAndConnectedToInOneSaveLeavesNothingBehind() throws {
        let vnetd = try VnetdUnderTest()
        let a = try vnetd.services.networks.create(NetworkDraft(name: "A", adapter: nil, notes: ""))
        let b = try vnetd.services.networks.create(NetworkDraft(name: "B", adapter: nil, notes: ""))
        let vm = try vnetd.services.vms.create(name: "mover", notes: "", connectingTo: a.id)
        let nic = try vnetd.nic(of: vm)
        let neighbour = try vnetd.nic(of: try vnetd.services.vms.create(name: "neighbour", notes: "", connectingTo: a.id))
        vnetd.settle()
        func ports(_ network: NetworkID) -> Int {
            vnetd.settle()
            return vnetd.services.status.status(of: network).ports.count
        }
        #expect(ports(a.id) == 2)

        // One save: another backend kind and another network.
        var version = try #require(try vnetd.services.store.read { try $0.vm(vm.id) }).version
        try vnetd.services.vms.configureNICs(of: vm.id, version: version, [NICSetting(nicID: nic.id, networkID: b.id, assignment: .dynamic, backend: .datagram)])
        #expect(ports(a.id) == 1, "the old network keeps only the neighbour")
        #expect(ports(b.id) == 1)

        // And back again, as a QEMU socket: the VM hears its neighbour.
        version = try #require(try vnetd.services.store.read { try $0.vm(vm.id) }).version
        try vnetd.services.vms.configureNICs(of: vm.id, version: version, [NICSetting(nicID: nic.id, networkID: a.id, assignment: .dynamic, backend: .socket)])
        #expect(ports(a.id) == 2)
        #expect(ports(b.id) == 0)
        vnetd.settle()
        let mover = try StreamPeer(path: try #require(vnetd.services.status.status(of: nic.id).endpoint))
        let other = try StreamPeer(path: try #require(vnetd.services.status.status(of: neighbour.id).endpoint))
        #expect(eventually { vnetd.services.status.status(of: nic.id).isAttached && vnetd.services.status.status(of: neighbour.id).isAttached })
        let hello = EthernetBuilder.header(destination: .broadcast, source: neighbour.mac, type: EtherType(rawValue: 0x88B5)) + [UInt8](repeating: 9, count: 46)
        #expect(try other.send(hello, reaching: mover), "the moved VM is not deaf")
    }
}
