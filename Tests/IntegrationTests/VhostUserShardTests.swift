import Domain
import Foundation
import Testing
import TestSupport

/// A vhost-user NIC moved to a network another data path thread serves keeps its front end
/// connected, its rings and its kick descriptor (they move with the port), and forwards there.
/// No privileges needed.
@Suite("vhost-user ports on several data path threads")
struct VhostUserShardTests {
    @Test func aVhostUserNICMovedToAnotherThreadKeepsItsFrontEndAndForwards() throws {
        let vnetd = try VnetdUnderTest(dataplaneThreads: 2)
        let a = try vnetd.services.networks.create(NetworkDraft(name: "A", adapter: nil, notes: "")).id
        let b = try vnetd.services.networks.create(NetworkDraft(name: "B", adapter: nil, notes: "")).id
        let dataplane = vnetd.application.dataplane
        #expect(dataplane.threadID(serving: a) != dataplane.threadID(serving: b), "two networks, two threads")
        func vhostNIC(_ name: String, on network: NetworkID) throws -> (VirtualMachine, VirtualNIC) {
            let vm = try vnetd.services.vms.create(name: name, notes: "", connectingTo: network)
            let nic = try vnetd.nic(of: vm)
            let version = try #require(try vnetd.services.store.read { try $0.vm(vm.id) }).version
            try vnetd.services.vms.configureNICs(of: vm.id, version: version, [NICSetting(nicID: nic.id, networkID: network, assignment: .dynamic, backend: .vhostUser)])
            return (vm, nic)
        }
        let (vm, nic) = try vhostNIC("mover", on: a)
        let (_, onA) = try vhostNIC("on-a", on: a)
        let (_, onB) = try vhostNIC("on-b", on: b)
        vnetd.settle()
        let status = vnetd.services.status
        func frontEnd(_ nic: VirtualNIC) throws -> VhostUserFrontEnd {
            let end = try VhostUserFrontEnd(path: try #require(status.status(of: nic.id).endpoint))
            try end.start()
            end.postReceiveBuffers()
            return end
        }
        let mover = try frontEnd(nic), peerA = try frontEnd(onA), peerB = try frontEnd(onB)
        #expect(eventually { [nic, onA, onB].allSatisfy { status.status(of: $0.id).isAttached } })
        func hello(from source: VirtualNIC, _ fill: UInt8) -> [UInt8] {
            [UInt8](repeating: 0xFF, count: 6) + source.mac.octets + [0x88, 0xB5] + [UInt8](repeating: fill, count: 46)
        }
        peerA.transmit(hello(from: onA, 1))
        #expect(mover.receive().first?.frame == hello(from: onA, 1))

        func move(to network: NetworkID) throws {
            let version = try #require(try vnetd.services.store.read { try $0.vm(vm.id) }).version
            try vnetd.services.vms.configureNICs(of: vm.id, version: version, [NICSetting(nicID: nic.id, networkID: network, assignment: .dynamic, backend: .vhostUser)])
            vnetd.settle()
        }
        try move(to: b)
        #expect(status.status(of: nic.id).isAttached, "the same front end, still attached")
        peerB.transmit(hello(from: onB, 2))
        #expect(mover.receive().first?.frame == hello(from: onB, 2), "B's frames reach the moved VM's rings")
        mover.transmit(hello(from: nic, 3))
        #expect(peerB.receive().first?.frame == hello(from: nic, 3), "and the moved VM's kicks are heard on B's thread")
        try move(to: a)
        mover.transmit(hello(from: nic, 4))
        #expect(peerA.receive().first?.frame == hello(from: nic, 4), "back on A")
        #expect(!status.status(of: nic.id).detail.contains("disconnected"), "no front end was dropped: \(status.status(of: nic.id).detail)")
    }
}
