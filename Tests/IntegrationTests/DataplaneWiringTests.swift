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

    /// Two administrators save the same adapter at once, one from its VM's page, one from the
    /// network settings pages, 200 times each: afterwards the port sits where the store says,
    /// in that switch only, and frames cross it.
    @Test func racingSavesFromTwoPagesLeaveThePortWhereTheStoreSays() throws {
        let vnetd = try VnetdUnderTest()
        let a = try vnetd.services.networks.create(NetworkDraft(name: "A", adapter: nil, notes: ""))
        let b = try vnetd.services.networks.create(NetworkDraft(name: "B", adapter: nil, notes: ""))
        let vm = try vnetd.services.vms.create(name: "contested", notes: "", connectingTo: a.id)
        let nic = try vnetd.nic(of: vm)
        let neighbourA = try vnetd.nic(of: try vnetd.services.vms.create(name: "na", notes: "", connectingTo: a.id))
        let neighbourB = try vnetd.nic(of: try vnetd.services.vms.create(name: "nb", notes: "", connectingTo: b.id))
        let services = vnetd.services
        let (vmID, nicID, networkA, networkB) = (vm.id, nic.id, a.id, b.id)
        let done = DispatchGroup()
        // The VM page: moves the adapter and flips how it attaches.
        DispatchQueue.global().async(group: done) {
            for round in 0..<200 {
                guard let version = try? services.store.read({ try $0.vm(vmID) })?.version else { continue }
                _ = try? services.vms.configureNICs(of: vmID, version: version, [
                    NICSetting(nicID: nicID, networkID: round % 2 == 0 ? networkB : networkA, assignment: .dynamic,
                               backend: round % 3 == 0 ? .datagram : .socket),
                ])
            }
        }
        // The network settings pages: connect it to their network, or let it go.
        DispatchQueue.global().async(group: done) {
            for round in 0..<200 {
                let network = round % 2 == 0 ? networkA : networkB
                guard let version = try? services.store.read({ try $0.network(network) })?.version else { continue }
                let draft = NetworkDraft(name: network == networkA ? "A" : "B", adapter: nil, notes: "")
                _ = try? round % 5 == 4
                    ? services.networks.update(network, version: version, draft, disconnecting: [nicID])
                    : services.networks.update(network, version: version, draft, connecting: [nicID])
            }
        }
        done.wait()
        // Finally, a known place: connected to B as a QEMU stream socket.
        let version = try #require(try services.store.read { try $0.vm(vmID) }).version
        try services.vms.configureNICs(of: vmID, version: version, [NICSetting(nicID: nicID, networkID: networkB, assignment: .dynamic, backend: .socket)])
        vnetd.settle()
        let stored = try #require(try services.store.read { try $0.nic(nicID) })
        #expect(stored.networkID == networkB)
        func members(_ network: NetworkID) -> [NICID] {
            vnetd.services.status.status(of: network).ports.compactMap { if case .nic(let id)? = $0.kind { id } else { nil } }
        }
        #expect(members(networkA).sorted { $0.rawValue < $1.rawValue } == [neighbourA.id], "A holds only its own VM")
        #expect(Set(members(networkB)) == [nicID, neighbourB.id], "B holds the contested adapter once, and its own VM")
        let mover = try StreamPeer(path: try #require(vnetd.services.status.status(of: nicID).endpoint))
        let other = try StreamPeer(path: try #require(vnetd.services.status.status(of: neighbourB.id).endpoint))
        let hello = EthernetBuilder.header(destination: .broadcast, source: neighbourB.mac, type: EtherType(rawValue: 0x88B5)) + [UInt8](repeating: 5, count: 46)
        #expect(try other.send(hello, reaching: mover), "frames cross the port after the race")
        let stray = try StreamPeer(path: try #require(vnetd.services.status.status(of: neighbourA.id).endpoint))
        #expect(try !mover.send(EthernetBuilder.header(destination: .broadcast, source: stored.mac, type: EtherType(rawValue: 0x88B5)) + [UInt8](repeating: 6, count: 46), reaching: stray),
                "and nothing of B leaks into A")
    }
}
