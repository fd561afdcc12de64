import Packets
import Testing
@testable import Switching

/// An external network where the host talks to its VMs: the host's frames come in on the uplink
/// (from the adapter's MAC), and the uplink hands frames for the host back to it.
@Suite("External networks: the host's frames and copies coming back")
struct HostAccessSwitchTests {
    static let host: UInt64 = 0x5254_0012_3456, lanHost: UInt64 = 0x0200_0000_0099

    final class Network {
        let fabric = VirtualSwitch(name: "host access")
        let vmA = MemoryPort(), vmB = MemoryPort(), uplink = MemoryPort()

        init() {
            fabric.attach(PortID(1), sink: vmA, role: .vm(mac: MACAddress(value: a), allowsSpoofing: false))
            fabric.attach(PortID(2), sink: vmB, role: .vm(mac: MACAddress(value: b), allowsSpoofing: true))
            fabric.attach(PortID(3), sink: uplink, role: .uplink(adapterMAC: MACAddress(value: HostAccessSwitchTests.host)))
        }

        func send(_ bytes: [UInt8], from port: UInt32) {
            bytes.withUnsafeBytes { fabric.receive($0, from: PortID(port), now: 1_000) }
        }

        func delivered() -> [Int] { [vmA.take().count, vmB.take().count, uplink.take().count] }
        var uplinkDrops: DropCounts { fabric.counters(of: PortID(3))?.rxDrops ?? DropCounts() }
    }

    @Test func theHostsFramesReachTheVMsAndNeverGoBackOutTheUplink() {
        let network = Network()
        network.send(frame(from: Self.host, to: broadcast), from: 3)
        #expect(network.delivered() == [1, 1, 0], "the host's ARP request reaches every VM, not the LAN again")
        network.send(frame(from: Self.host, to: a), from: 3)
        #expect(network.delivered() == [1, 0, 0])
        network.send(frame(from: a, to: Self.host), from: 1)
        #expect(network.delivered() == [0, 0, 1], "a VM's answer goes to the uplink, which hands it to the host")
    }

    @Test func aVMsFrameComingBackFromTheLANIsDroppedAndCountedNotDeliveredTwice() {
        let network = Network()
        network.send(frame(from: a, to: broadcast), from: 1)
        #expect(network.delivered() == [0, 1, 1])
        // The host's copy of that broadcast, seen coming in on the adapter (or a LAN loop).
        network.send(frame(from: a, to: broadcast), from: 3)
        network.send(frame(from: b, to: broadcast), from: 3)
        #expect(network.delivered() == [0, 0, 0])
        #expect(network.uplinkDrops.looped == 2)
        #expect(network.uplinkDrops.total == 0, "the host's copies are normal, not trouble")
        // The LAN's own stations, and the host's own address, still come in.
        network.send(frame(from: Self.lanHost, to: broadcast), from: 3)
        network.send(frame(from: Self.host, to: broadcast), from: 3)
        #expect(network.delivered() == [2, 2, 0])
        #expect(network.uplinkDrops.looped == 2)
    }
}
