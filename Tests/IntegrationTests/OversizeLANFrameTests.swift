import Domain
import Foundation
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A LAN station with a larger MTU than the VMs' (a veth at 65,535, the most Linux allows, so a
/// plain frame of 65,549 bytes) sends to an external network whose VM has a 1,500-byte TAP. A Linux
/// bridge drops such a frame at the port it does not fit and counts it there; a user reading the
/// network page expects the same: counted, not delivered, and the network carries on. When the VM's
/// namespace raises its MTU (jumbo frames), frames that fit the new MTU reach it.
@Suite("An oversize frame from the LAN", .serialized, .enabled(if: rootTestsRun, Comment(rawValue: needsRoot)))
struct OversizeLANFrameTests {
    @Test func anOversizeLANFrameIsCountedAndReachesNoVM() throws {
        let lan = try UplinkTests.LAN(subnet: "10.87.0")
        for (interface, namespace) in [(lan.adapter, nil), (lan.far, lan.namespace.name)] as [(String, String?)] {
            try run((namespace.map { ["ip", "-n", $0] } ?? ["ip"]) + ["link", "set", interface, "mtu", "65535"])
        }
        let vnetd = try VnetdUnderTest()
        let (network, nic, vm, tap) = try UplinkTests.externalVM(vnetd, lan, address: "10.87.0.10/24")
        #expect(try vm.canPing("10.87.0.254"), "control: the VM is on the LAN")
        func uplink() -> PortRuntimeStatus? {
            vnetd.settle()
            return vnetd.services.status.status(of: network).ports.first { $0.kind == .uplink(adapter: lan.adapter) }
        }
        // Malformed frames on the uplink (its other drops, the host's copies of VM broadcasts, tick on their own).
        func malformedOnUplink() -> UInt64 { uplink()?.counters.drops.filter { $0.reason == "malformed" }.reduce(0) { $0 + $1.count } ?? 0 }
        func toVM() -> TrafficCounters {
            vnetd.settle()
            return vnetd.services.status.status(of: nic.id).counters
        }
        func dropsAtVM() -> UInt64 { toVM().drops.reduce(0) { $0 + $1.count } }
        // Raw broadcast frames from the LAN's side, of a given length, through a packet socket.
        func sendFromLAN(length: Int, count: Int) throws -> String {
            let script = """
            import socket, sys
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
            s.bind((sys.argv[1], 0))
            n = int(sys.argv[2])
            frame = b"\\xff" * 6 + b"\\x02\\x00\\x00\\x87\\x00\\x01" + b"\\x88\\xb5" + b"\\x00" * (n - 14)
            for _ in range(int(sys.argv[3])):
                print(s.send(frame))
            """
            return try run(["ip", "netns", "exec", lan.namespace.name, "python3", "-c", script, lan.far, "\(length)", "\(count)"]).output
        }

        let malformedBefore = malformedOnUplink(), framesBefore = toVM().txFrames
        // Control: ordinary broadcasts of the same kind reach the VM and are not counted as bad.
        _ = try sendFromLAN(length: 1000, count: 3)
        #expect(eventually(5) { toVM().txFrames >= framesBefore + 3 }, "ordinary LAN broadcasts reach the VM")
        #expect(malformedOnUplink() == malformedBefore)

        let receivedBefore = uplink()?.counters.rxFrames ?? 0
        let bytesBefore = toVM().txBytes, droppedBefore = malformedOnUplink() + dropsAtVM()
        let sent = try sendFromLAN(length: 65_549, count: 3)
        #expect(sent.split(separator: "\n") == ["65549", "65549", "65549"], "the LAN sent them whole: \(sent)")
        #expect(eventually(5) { (uplink()?.counters.rxFrames ?? 0) >= receivedBefore + 3 }, "vnetd read them from the uplink")
        func tooBigAtVM() -> UInt64 { toVM().drops.filter { $0.reason == "larger than the port's MTU" }.reduce(0) { $0 + $1.count } }
        #expect(eventually(5) { malformedOnUplink() + dropsAtVM() >= droppedBefore + 3 }, "each one is counted: \(uplink()?.counters.drops ?? []), \(toVM().drops)")
        #expect(tooBigAtVM() >= 3, "as too big for the VM's port: \(toVM().drops)")
        #expect(toVM().txBytes - bytesBefore < 65_549, "none reached the VM")

        // The VM's namespace raises its MTU: a 9,000-byte frame now fits and arrives (the port
        // re-reads the MTU through its descriptor, within a second), a 9,019-byte one (over 9,000 + 14 + a VLAN tag's 4) still does not.
        try run(["ip", "-n", vm.name, "link", "set", tap, "mtu", "9000"])
        let jumboBefore = toVM().txFrames, tooBigBefore = tooBigAtVM()
        #expect(eventually(5) {
            _ = try? sendFromLAN(length: 9_014, count: 1)
            return toVM().txFrames > jumboBefore
        }, "a frame that fits the raised MTU reaches the VM: \(toVM().drops)")
        _ = try sendFromLAN(length: 9_019, count: 2)
        #expect(eventually(5) { tooBigAtVM() >= tooBigBefore + 2 }, "one over it is still counted as too big")
        #expect(try vm.canPing("10.87.0.254"), "and the network carries on")
        #expect(uplink()?.isAttached == true)
    }
}
