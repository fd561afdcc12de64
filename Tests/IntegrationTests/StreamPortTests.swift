import Domain
import Foundation
import Packets
import Switching
import Testing
import TestSupport

/// QEMU stream ports as a guest with a large MTU uses them. Sockets need no privileges.
@Suite("QEMU stream ports")
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
}
