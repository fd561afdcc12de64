import Domain
import Foundation
import Packets
import Switching
import Testing
import TestSupport

/// The data path on several loops: a NIC moved to a network another loop serves keeps its
/// backend, and its QEMU peer stays connected and keeps forwarding. Sockets need no privileges.
@Suite("Networks on several data path threads")
struct ShardTests {
    @Test func aNICMovedToANetworkOnAnotherThreadKeepsItsConnectedPeerAndForwards() throws {
        let vnetd = try VnetdUnderTest(dataplaneThreads: 2)
        let a = try vnetd.services.networks.create(NetworkDraft(name: "A", adapter: nil, notes: "")).id
        let b = try vnetd.services.networks.create(NetworkDraft(name: "B", adapter: nil, notes: "")).id
        let dataplane = vnetd.application.dataplane
        #expect(dataplane.threadID(serving: a) != dataplane.threadID(serving: b), "two networks, two threads")
        let vm = try vnetd.services.vms.create(name: "mover", notes: "", connectingTo: a)
        let nic = try vnetd.nic(of: vm)
        let onA = try vnetd.nic(of: try vnetd.services.vms.create(name: "on-a", notes: "", connectingTo: a))
        let onB = try vnetd.nic(of: try vnetd.services.vms.create(name: "on-b", notes: "", connectingTo: b))
        vnetd.settle()
        let status = vnetd.services.status
        func peer(_ nic: VirtualNIC) throws -> StreamPeer { try StreamPeer(path: try #require(status.status(of: nic.id).endpoint)) }
        let mover = try peer(nic), peerA = try peer(onA), peerB = try peer(onB)
        #expect(eventually { [nic, onA, onB].allSatisfy { status.status(of: $0.id).isAttached } })
        func hello(from source: VirtualNIC) -> [UInt8] {
            EthernetBuilder.header(destination: .broadcast, source: source.mac, type: EtherType(rawValue: 0x88B5)) + [UInt8](repeating: 7, count: 46)
        }
        #expect(try peerA.send(hello(from: onA), reaching: mover))

        func move(to network: NetworkID) throws {
            let version = try #require(try vnetd.services.store.read { try $0.vm(vm.id) }).version
            try vnetd.services.vms.configureNICs(of: vm.id, version: version, [NICSetting(nicID: nic.id, networkID: network, assignment: .dynamic, backend: .socket)])
            vnetd.settle()
        }
        try move(to: b)
        #expect(status.status(of: nic.id).isAttached, "the same QEMU connection, still attached")
        #expect(status.status(of: b).ports.count == 2 && status.status(of: a).ports.count == 1)
        #expect(try peerB.send(hello(from: onB), reaching: mover), "B's frames reach the moved VM over its old connection")
        #expect(try mover.send(hello(from: nic), reaching: peerB), "and the moved VM's reach B")
        vnetd.settle()
        let counted = status.status(of: nic.id).counters
        #expect(counted.rxFrames >= 1 && counted.txFrames >= 1, "counted on B: \(counted)")

        try move(to: a)
        #expect(try peerA.send(hello(from: onA), reaching: mover), "back on A, over the same connection")
        #expect(try mover.send(hello(from: nic), reaching: peerA))
        #expect(!status.status(of: nic.id).detail.contains("disconnected"), "no peer was ever dropped: \(status.status(of: nic.id).detail)")
    }
}
