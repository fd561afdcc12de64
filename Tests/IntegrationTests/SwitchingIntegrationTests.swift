import AdminSite
import Application
import Dataplane
import Domain
import Foundation
import Packets
import Switching
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

@Suite("Frames between real namespaces through vnetd", .serialized, .enabled(if: rootTestsRun, Comment(rawValue: needsRoot)))
struct SwitchingIntegrationTests {
    @Test func guestOnlyNetworkConnectsItsVMsIsolatesOthersAndMovesLive() throws {
        let vnetd = try VnetdUnderTest()
        let lab = try vnetd.services.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        let other = try vnetd.services.networks.create(NetworkDraft(name: "Other", adapter: nil, notes: ""))
        let (_, tapA) = try vnetd.tapVM("a", on: lab.id)
        let (_, tapB) = try vnetd.tapVM("b", on: lab.id)
        let (vmC, tapC) = try vnetd.tapVM("c", on: other.id)
        let a = try Namespace("a"), b = try Namespace("b"), c = try Namespace("c")
        try a.adopt(tapA, address: "10.91.0.1/24")
        try b.adopt(tapB, address: "10.91.0.2/24")
        try c.adopt(tapC, address: "10.91.0.3/24")

        #expect(try a.canPing("10.91.0.2"))
        #expect(try !a.reaches("10.91.0.3"))
        #expect(try !c.reaches("10.91.0.1"))

        // Move c's adapter to Lab while its interface stays where it is.
        let nicC = try vnetd.nic(of: vmC)
        let version = try #require(try vnetd.services.store.read { try $0.vm(vmC.id) }).version
        try vnetd.services.vms.configureNICs(of: vmC.id, version: version, [NICSetting(nicID: nicC.id, networkID: lab.id, assignment: .dynamic, backend: .tap)])
        vnetd.settle()
        #expect(try c.canPing("10.91.0.1"))
        let (_, sameInterface) = try run(["ip", "-n", c.name, "-o", "link", "show", tapC])
        #expect(sameInterface.contains(tapC))

        // The network page shows every port attached and counters moving.
        vnetd.settle()
        let status = vnetd.services.status.status(of: lab.id)
        #expect(status.isRunning)
        #expect(status.ports.filter(\.isAttached).count == 3)
        #expect(status.totals.rxFrames > 0)
        #expect(status.addresses.count >= 3)
    }

    /// The page promises the TAP has the adapter's MAC: also after a change, with the interface
    /// already in its namespace, and the VM keeps talking.
    @Test func aChangedMACReachesTheTAPInsideItsNamespace() throws {
        let vnetd = try VnetdUnderTest()
        let lab = try vnetd.services.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        let (vm, tapA) = try vnetd.tapVM("a", on: lab.id)
        let (_, tapB) = try vnetd.tapVM("b", on: lab.id)
        let a = try Namespace("ma"), b = try Namespace("mb")
        try a.adopt(tapA, address: "10.90.0.1/24")
        try b.adopt(tapB, address: "10.90.0.2/24")
        #expect(try a.canPing("10.90.0.2"))
        let nic = try vnetd.nic(of: vm)
        let version = try #require(try vnetd.services.store.read { try $0.vm(vm.id) }).version
        try vnetd.services.vms.configureNICs(of: vm.id, version: version, [
            NICSetting(nicID: nic.id, networkID: lab.id, assignment: .static, staticMAC: "02-00-00-90-00-01", backend: .tap),
        ])
        vnetd.settle()
        let (_, link) = try run(["ip", "-n", a.name, "-o", "link", "show", tapA])
        #expect(link.contains("02:00:00:90:00:01"), "the interface has the new MAC: \(link)")
        _ = try run(["ip", "-n", b.name, "neigh", "flush", "all"])
        #expect(try b.canPing("10.90.0.1"), "and frames from and to the new MAC are switched")
    }

    @Test func deletingAVMNamespaceMarksItsPortGoneWithoutSpinning() throws {
        let vnetd = try VnetdUnderTest()
        let lab = try vnetd.services.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        let (vm, tap) = try vnetd.tapVM("gone", on: lab.id)
        var namespace: Namespace? = try Namespace("gone")
        try namespace?.adopt(tap, address: "10.92.0.1/24")
        namespace = nil  // deletes it, destroying the TAP
        let nic = try vnetd.nic(of: vm)
        // Traffic towards the port makes the loop notice; a broadcast from a second VM does it.
        let (_, other) = try vnetd.tapVM("other", on: lab.id)
        let peer = try Namespace("other")
        try peer.adopt(other, address: "10.92.0.2/24")
        _ = try peer.reaches("10.92.0.1")
        #expect(eventually { vnetd.services.status.status(of: nic.id).detail.contains("destroyed") })
        // The data path thread's own CPU time: other tests' work in this process does not count.
        let thread = try #require(vnetd.application.dataplane.threadID(serving: lab.id))
        let cpu = try threadCPUSeconds(thread)
        usleep(1_000_000)
        #expect(try threadCPUSeconds(thread) - cpu < 0.5, "the loop must not spin on the dead descriptor")
        // Saving the adapter again creates a fresh interface.
        let version = try #require(try vnetd.services.store.read { try $0.vm(vm.id) }).version
        try vnetd.services.vms.configureNICs(of: vm.id, version: version, [NICSetting(nicID: nic.id, networkID: lab.id, assignment: .dynamic, backend: .tap)])
        vnetd.settle()
        #expect(try run(["ip", "link", "show", tap], check: false).status == 0)
    }

    @Test func externalNetworkReachesTheLANThroughTheBoundAdapter() throws {
        let suffix = String(UInt32.random(in: 0...0xFFFF), radix: 16)
        let uplink = "vtu\(suffix)", lanSide = "vtl\(suffix)"
        try run(["ip", "link", "add", uplink, "type", "veth", "peer", "name", lanSide])
        defer { _ = try? run(["ip", "link", "del", uplink], check: false) }
        try run(["ip", "link", "set", uplink, "up"])
        let lan = try Namespace("lan")
        try lan.adopt(lanSide, address: "10.93.0.254/24")

        let vnetd = try VnetdUnderTest()
        try vnetd.services.adapters.setBindings(bound: [uplink])
        let external = try vnetd.services.networks.create(NetworkDraft(name: "LAN", adapter: uplink, notes: ""))
        let (_, tap) = try vnetd.tapVM("web", on: external.id)
        let vm = try Namespace("web")
        try vm.adopt(tap, address: "10.93.0.10/24")
        let (_, neighbourTap) = try vnetd.tapVM("db", on: external.id)
        let neighbour = try Namespace("db")
        try neighbour.adopt(neighbourTap, address: "10.93.0.11/24")
        vnetd.settle()
        #expect(try vm.canPing("10.93.0.254"))
        #expect(try lan.canPing("10.93.0.10"))
        vnetd.settle()
        let status = vnetd.services.status.status(of: external.id)
        let uplinkStatus = try #require(status.ports.first { $0.kind == .uplink(adapter: uplink) })
        #expect(uplinkStatus.isAttached)
        #expect(uplinkStatus.counters.rxFrames > 0 && uplinkStatus.counters.txFrames > 0)

        // Turning the network guest-only detaches the uplink: the LAN is out of reach.
        try vnetd.services.networks.update(external.id, version: 1, NetworkDraft(name: "LAN", adapter: nil, notes: ""))
        vnetd.settle()
        #expect(try !vm.reaches("10.93.0.254"))
        #expect(try vm.canPing("10.93.0.11"), "while the network itself still switches between its VMs")
    }

    @Test func aQEMUStreamPeerExchangesARPWithANamespaceVMAndSurvivesRestarts() throws {
        let vnetd = try VnetdUnderTest()
        let lab = try vnetd.services.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        let qemuVM = try vnetd.services.vms.create(name: "qemu", notes: "", connectingTo: lab.id)
        let socketNIC = try vnetd.nic(of: qemuVM)
        let (_, tap) = try vnetd.tapVM("ns", on: lab.id)
        let namespace = try Namespace("ns")
        try namespace.adopt(tap, address: "10.94.0.2/24")
        vnetd.settle()
        let path = try #require(vnetd.services.status.status(of: socketNIC.id).endpoint)

        for round in 0..<2 {
            let peer = try StreamPeer(path: path)
            #expect(eventually { vnetd.services.status.status(of: socketNIC.id).isAttached })
            let request = ARPPacket.frame(
                operation: .request, senderMAC: socketNIC.mac, senderIP: IPv4Address(10, 94, 0, 1),
                targetMAC: .zero, targetIP: IPv4Address(10, 94, 0, 2), destination: .broadcast)
            let reply = try peer.exchange(request) { frame in
                frame.withUnsafeBytes { bytes in
                    guard let ethernet = EthernetFrame(bytes), ethernet.etherType == .arp, let arp = ARPPacket(ethernet.payload) else { return false }
                    return arp.operation == .reply && arp.senderIP == IPv4Address(10, 94, 0, 2) && arp.targetMAC == socketNIC.mac
                }
            }
            #expect(reply, "round \(round): an ARP reply from the namespace VM")
            peer.close()
            if round == 0 {
                try vnetd.restart()
                // The TAP was vnetd's: after a restart it is a new interface with the same name and MAC.
                #expect(eventually { (try? run(["ip", "link", "show", tap], check: false).status) == 0 })
                try namespace.adopt(tap, address: "10.94.0.2/24")
            }
        }
    }

    @Test func aPeerBreakingTheFramingIsDisconnectedAndCounted() throws {
        let vnetd = try VnetdUnderTest()
        let lab = try vnetd.services.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        let vm = try vnetd.services.vms.create(name: "bad", notes: "", connectingTo: lab.id)
        let nic = try vnetd.nic(of: vm)
        vnetd.settle()
        let path = try #require(vnetd.services.status.status(of: nic.id).endpoint)
        let peer = try StreamPeer(path: path)
        try peer.write([0x00, 0x01, 0x10, 0x01])  // 69,633: over QEMU's own limit
        #expect(peer.waitForClose())
        #expect(eventually { vnetd.services.status.status(of: nic.id).detail.contains("disconnected for bad framing") })
        // The port still accepts a well-behaved peer, and frames cross it.
        let good = try StreamPeer(path: path)
        let (_, tap) = try vnetd.tapVM("ns", on: lab.id)
        let namespace = try Namespace("frm")
        try namespace.adopt(tap, address: "10.95.0.2/24")
        let request = ARPPacket.frame(
            operation: .request, senderMAC: nic.mac, senderIP: IPv4Address(10, 95, 0, 1),
            targetMAC: .zero, targetIP: IPv4Address(10, 95, 0, 2), destination: .broadcast)
        #expect(try good.exchange(request) { frame in
            frame.withUnsafeBytes { bytes in
                guard let ethernet = EthernetFrame(bytes), ethernet.etherType == .arp, let arp = ARPPacket(ethernet.payload) else { return false }
                return arp.operation == .reply && arp.targetMAC == nic.mac
            }
        }, "an ARP reply crosses the port after the bad peer was replaced")
        good.close()
    }
}

/// User and system CPU seconds of one thread of this process (/proc/self/task/<id>/stat).
func threadCPUSeconds(_ thread: Int32) throws -> Double {
    let stat = try String(contentsOfFile: "/proc/self/task/\(thread)/stat", encoding: .utf8)
    // Fields after the command name, which is in parentheses and may hold spaces.
    guard let close = stat.lastIndex(of: ")") else { throw CommandFailure(description: "unreadable stat for thread \(thread)") }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else {
        throw CommandFailure(description: "unreadable stat for thread \(thread)")
    }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}
