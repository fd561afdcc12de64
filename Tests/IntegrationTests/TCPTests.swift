import CTestNet
import Domain
import Foundation
import Testing
import Synchronization
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// TCP through vnetd, checked byte for byte: what users move across a virtual network.
@Suite("TCP through the switch", .serialized, .enabled(if: rootTestsRun, Comment(rawValue: needsRoot)))
struct TCPTests {
    /// Bytes of a seeded stream from a client in `from` to a server in `to` at `address`,
    /// checked by the server; returns how many arrived intact.
    static func transfer(_ bytes: Int, from: Namespace, to: Namespace, address: String, port: Int32 = 5201) -> Int {
        transfer(bytes, from: from.name, to: to.name, address: address, port: port)
    }

    static func transfer(_ bytes: Int, from: String, to: String, address: String, port: Int32 = 5201) -> Int {
        Int(testnet_tcp_transfer("/var/run/netns/" + from, "/var/run/netns/" + to, address, port, bytes, UInt32.random(in: 1...UInt32.max), 20))
    }

    @Test func fiftyMegabytesBetweenTAPsOnAMixedNetworkArriveIntactInWholeSegments() throws {
        let lan = try UplinkTests.LAN(subnet: "10.85.0")
        let vnetd = try VnetdUnderTest()
        try vnetd.services.adapters.setBindings(bound: [lan.adapter])
        let network = try vnetd.services.networks.create(NetworkDraft(name: "Mixed", adapter: lan.adapter, notes: "")).id
        let (vmA, tapA) = try vnetd.tapVM("a", on: network)
        let (_, tapB) = try vnetd.tapVM("b", on: network)
        let socketNIC = try vnetd.nic(of: try vnetd.services.vms.create(name: "qemu", notes: "", connectingTo: network))
        let a = try Namespace("ta"), b = try Namespace("tb")
        try a.adopt(tapA, address: "10.85.0.1/24")
        try b.adopt(tapB, address: "10.85.0.2/24")
        #expect(try a.canPing("10.85.0.2"))
        let nicA = try vnetd.nic(of: vmA)
        vnetd.settle()
        let before = vnetd.services.status.status(of: nicA.id).counters

        // A QEMU VM attaches to the same network in the middle of the transfer.
        let size = 50 << 20
        let received = Mutex<Int>(0)
        let (from, to) = (a.name, b.name)
        let mover = Thread { received.withLock { $0 = Self.transfer(size, from: from, to: to, address: "10.85.0.2") } }
        mover.start()
        usleep(300_000)
        let peer = try StreamPeer(path: try #require(vnetd.services.status.status(of: socketNIC.id).endpoint))
        defer { peer.close() }
        while !mover.isFinished { usleep(50_000) }
        #expect(received.withLock { $0 } == size, "every byte arrived, in order and intact")

        vnetd.settle()
        let after = vnetd.services.status.status(of: nicA.id).counters
        let frames = after.rxFrames - before.rxFrames, bytes = after.rxBytes - before.rxBytes
        #expect(frames > 0 && bytes / max(frames, 1) > 4_000,
                "the sender's TAP hands over whole TCP segments on a network with a socket port and an uplink: \(bytes / max(frames, 1)) bytes per frame")
    }

    /// With GRO and TSO on the bound adapter, as almost every driver has by default: the uplink
    /// reads coalesced 64 KiB frames with unfinished checksums, and sends whole segments.
    @Test func aVMAndAHostOnTheLANExchangeTCPThroughTheUplinkBothWays() throws {
        let lan = try UplinkTests.LAN(subnet: "10.84.0")
        try run(["ethtool", "-K", lan.adapter, "gro", "on", "tso", "on", "tx", "on", "rx", "on"])
        try run(["ip", "netns", "exec", lan.namespace.name, "ethtool", "-K", lan.far, "gro", "on", "tso", "on", "tx", "on"])
        let (_, features) = try run(["ethtool", "-k", lan.adapter])
        #expect(features.contains("generic-receive-offload: on"))
        let vnetd = try VnetdUnderTest()
        let (_, _, vm, _) = try UplinkTests.externalVM(vnetd, lan, address: "10.84.0.10/24")
        #expect(try vm.canPing("10.84.0.254"))
        let size = 20 << 20
        #expect(Self.transfer(size, from: vm, to: lan.namespace, address: "10.84.0.254") == size, "VM to LAN")
        #expect(Self.transfer(size, from: lan.namespace, to: vm, address: "10.84.0.10", port: 5202) == size, "LAN to VM")
    }
}
