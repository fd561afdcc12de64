import Domain
import Foundation
import Packets
import Switching
import Testing
import TestSupport

/// QEMU stream ports as a guest with a large MTU uses them. Sockets need no privileges.
@Suite("QEMU socket ports")
struct StreamPortTests {
    @Test func aGuestWithALargeMTUStaysConnectedAndAnOversizedFrameIsOnlyDropped() throws {
        let vnetd = try VnetdUnderTest()
        let lab = try vnetd.services.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        let sender = try vnetd.nic(of: try vnetd.services.vms.create(name: "big", notes: "", connectingTo: lab.id))
        let receiver = try vnetd.nic(of: try vnetd.services.vms.create(name: "other", notes: "", connectingTo: lab.id))
        vnetd.settle()
        let a = try StreamPeer(path: try #require(vnetd.services.status.status(of: sender.id).endpoint))
        let b = try StreamPeer(path: try #require(vnetd.services.status.status(of: receiver.id).endpoint))
        #expect(eventually { vnetd.services.status.status(of: sender.id).isAttached && vnetd.services.status.status(of: receiver.id).isAttached })

        // MTU 65,535 plus the Ethernet header: larger than the old 65,535-byte framing limit.
        let jumbo = EthernetBuilder.header(destination: .broadcast, source: sender.mac, type: EtherType(rawValue: 0x88B5))
            + [UInt8](repeating: 0x4A, count: 65_535)
        #expect(try a.send(jumbo, reaching: b), "a 65,549-byte frame crosses the switch")

        // Within QEMU's framing limit but over the switch's: dropped and counted, never a disconnect.
        let oversized = EthernetBuilder.header(destination: .broadcast, source: sender.mac, type: EtherType(rawValue: 0x88B5))
            + [UInt8](repeating: 0x4B, count: 68_000)
        try a.send(oversized)
        #expect(eventually {
            vnetd.settle()
            return vnetd.services.status.status(of: sender.id).counters.drops.contains { $0.reason == DropReason.malformed.label && $0.count == 1 }
        })
        let after = EthernetBuilder.header(destination: .broadcast, source: sender.mac, type: EtherType(rawValue: 0x88B5)) + Array("after".utf8) + [UInt8](repeating: 0, count: 41)
        #expect(try a.send(after, reaching: b), "the sender is still connected and forwarding")
        #expect(vnetd.services.status.status(of: sender.id).detail.contains("disconnected") == false)
    }

    /// While a VM is attached to its socket, a second connection (anyone in the socket's group)
    /// is refused and counted: the VM keeps its port and its traffic. Once the VM has gone (a
    /// QEMU restart), the next connection is the VM again.
    @Test func aSecondPeerIsRefusedWhileTheFirstIsAttached() throws {
        let vnetd = try VnetdUnderTest()
        let lab = try vnetd.services.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        let first = try vnetd.nic(of: try vnetd.services.vms.create(name: "first", notes: "", connectingTo: lab.id))
        let other = try vnetd.nic(of: try vnetd.services.vms.create(name: "other", notes: "", connectingTo: lab.id))
        vnetd.settle()
        let path = try #require(vnetd.services.status.status(of: first.id).endpoint)
        let a = try StreamPeer(path: path)
        let b = try StreamPeer(path: try #require(vnetd.services.status.status(of: other.id).endpoint))
        #expect(eventually { vnetd.services.status.status(of: first.id).isAttached && vnetd.services.status.status(of: other.id).isAttached })
        let intruder = try StreamPeer(path: path)
        #expect(intruder.waitForClose(), "the newcomer is closed")
        #expect(eventually { vnetd.services.status.status(of: first.id).detail.contains("1 peer") }, "and counted")
        let toOther = EthernetBuilder.header(destination: other.mac, source: first.mac, type: EtherType(rawValue: 0x88B5)) + [UInt8](repeating: 5, count: 46)
        #expect(try a.send(toOther, reaching: b), "the first peer still forwards")
        let toFirst = EthernetBuilder.header(destination: first.mac, source: other.mac, type: EtherType(rawValue: 0x88B5)) + [UInt8](repeating: 6, count: 46)
        #expect(try b.send(toFirst, reaching: a), "and still gets its traffic")
        a.close()
        let again = try StreamPeer(path: path)
        #expect(try b.send(toFirst, reaching: again), "the VM back after a restart gets its traffic")
    }

    /// A peer bound to a name that fills sun_path (108 bytes, no NUL) is answered at that name,
    /// and a datagram larger than the switch takes is dropped whole, not forwarded cut short.
    @Test func datagramPortsAnswerAFullLengthPeerNameAndDropOversizedDatagramsWhole() throws {
        let vnetd = try VnetdUnderTest()
        let lab = try vnetd.services.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        let vm = try vnetd.services.vms.create(name: "dgram", notes: "", connectingTo: lab.id)
        let nic = try vnetd.nic(of: vm)
        try vnetd.services.vms.configureNICs(of: vm.id, version: 1, [NICSetting(nicID: nic.id, networkID: lab.id, assignment: .dynamic, backend: .datagram)])
        let other = try vnetd.nic(of: try vnetd.services.vms.create(name: "stream", notes: "", connectingTo: lab.id))
        vnetd.settle()
        let remote = try #require(vnetd.services.status.status(of: nic.id).endpoint)
        let directory = vnetd.folder.path + "/"
        let localPath = directory + String(repeating: "q", count: 108 - directory.utf8.count)
        try #require(localPath.utf8.count == 108)
        let peer = try DatagramPeer(localPath: localPath, remotePath: remote)
        let stream = try StreamPeer(path: try #require(vnetd.services.status.status(of: other.id).endpoint))
        #expect(eventually { vnetd.services.status.status(of: other.id).isAttached })

        let hello = EthernetBuilder.header(destination: .broadcast, source: nic.mac, type: EtherType(rawValue: 0x88B5)) + [UInt8](repeating: 1, count: 46)
        var heard = false
        for _ in 0..<10 where !heard {
            peer.send(hello)
            heard = try stream.receive(until: { $0 == hello }, seconds: 0.5)
        }
        #expect(heard, "the datagram peer's frame reaches the stream peer")
        let answer = EthernetBuilder.header(destination: nic.mac, source: other.mac, type: EtherType(rawValue: 0x88B5)) + [UInt8](repeating: 2, count: 46)
        var answered = false
        for _ in 0..<10 where !answered {
            try stream.send(answer)
            answered = peer.receive(seconds: 0.5) { $0 == answer }
        }
        #expect(answered, "the answer reaches the peer at its 108-byte name")

        peer.send(EthernetBuilder.header(destination: .broadcast, source: nic.mac, type: EtherType(rawValue: 0x88B5)) + [UInt8](repeating: 3, count: 69_000))
        #expect(eventually {
            vnetd.settle()
            return vnetd.services.status.status(of: nic.id).counters.drops.contains { $0.reason == DropReason.malformed.label && $0.count == 1 }
        }, "counted as malformed")
        #expect(try !stream.receive(until: { $0.count > 1_000 }, seconds: 1), "nothing of it is forwarded")
    }
}
