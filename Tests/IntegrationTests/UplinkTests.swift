import Domain
import Foundation
import Packets
import Switching
import CTestNet
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// An external network seen from the host and the LAN: a veth pair plays the LAN, its far end in
/// a namespace; the near end is the host adapter vnetd binds.
@Suite("External networks keep the host's traffic and the LAN's apart", .serialized, .enabled(if: rootTestsRun, Comment(rawValue: needsRoot)))
struct UplinkTests {
    final class LAN {
        let adapter: String, far: String
        let namespace: Namespace

        init(subnet: String, hostAddress: String? = nil) throws {
            let suffix = String(UInt32.random(in: 0...0xFFFF), radix: 16)
            adapter = "vtu\(suffix)"
            far = "vtl\(suffix)"
            try run(["ip", "link", "add", adapter, "type", "veth", "peer", "name", far])
            try run(["ip", "link", "set", adapter, "up"])
            if let hostAddress { try run(["ip", "addr", "add", hostAddress, "dev", adapter]) }
            namespace = try Namespace("lan")
            try run(["ip", "netns", "exec", namespace.name, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"])
            try namespace.adopt(far, address: "\(subnet).254/24")
        }

        deinit { _ = try? run(["ip", "link", "del", adapter], check: false) }
    }

    /// vnetd with one external network on `lan`'s adapter and one TAP VM on it at `address`.
    static func externalVM(_ vnetd: VnetdUnderTest, _ lan: LAN, address: String) throws -> (NetworkID, VirtualNIC, Namespace, String) {
        try vnetd.services.adapters.setBindings(bound: [lan.adapter])
        let network = try vnetd.services.networks.create(NetworkDraft(name: "LAN", adapter: lan.adapter, notes: "")).id
        let (vm, tap) = try vnetd.tapVM("vm", on: network)
        let namespace = try Namespace("vm")
        try run(["ip", "netns", "exec", namespace.name, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"])
        try namespace.adopt(tap, address: address)
        return (network, try vnetd.nic(of: vm), namespace, tap)
    }

    @Test func theHostsOwnUnicastFromTheLANNeverReachesAVM() throws {
        let lan = try LAN(subnet: "10.89.0", hostAddress: "10.89.0.1/24")
        let vnetd = try VnetdUnderTest()
        let (_, nic, vm, _) = try Self.externalVM(vnetd, lan, address: "10.89.0.10/24")
        #expect(try vm.canPing("10.89.0.254"), "the VM is on the LAN")
        #expect(try lan.namespace.canPing("10.89.0.1"), "the LAN reaches the host")
        func framesToVM() -> UInt64 {
            vnetd.settle()
            return vnetd.services.status.status(of: nic.id).counters.txFrames
        }
        let before = framesToVM()
        let ping = try run(["ip", "netns", "exec", lan.namespace.name, "ping", "-c", "200", "-i", "0.005", "-q", "10.89.0.1"], check: false)
        #expect(ping.output.contains(" 0% packet loss"), "the host answered: \(ping.output)")
        let leaked = framesToVM() - before
        #expect(leaked < 10, "the host's 200 echo requests stay with the host; \(leaked) frames reached the VM")
        #expect(try lan.namespace.canPing("10.89.0.10"), "and the LAN still reaches the VM")
    }

    /// The host hears a VM's broadcasts through the adapter, and the uplink then sees that copy
    /// coming in: it is counted, never switched back to the VMs.
    @Test func theHostsCopyOfAVMBroadcastIsCountedAndNotSwitched() throws {
        let lan = try LAN(subnet: "10.85.0", hostAddress: "10.85.0.1/24")
        let vnetd = try VnetdUnderTest()
        let (network, nic, vm, tap) = try Self.externalVM(vnetd, lan, address: "10.85.0.10/24")
        #expect(try vm.canPing("10.85.0.1"), "the VM reaches the host")
        func looped() -> UInt64 {
            vnetd.settle()
            let uplink = vnetd.services.status.status(of: network).ports.first { $0.kind == .uplink(adapter: lan.adapter) }
            return uplink?.counters.drops.first { $0.reason == DropReason.looped.label }?.count ?? 0
        }
        let before = looped()
        let marker = EthernetBuilder.header(destination: .broadcast, source: nic.mac, type: EtherType(rawValue: 0x88B6))
            + Array("to everyone".utf8) + [UInt8](repeating: 0, count: 40)
        try sendRaw(marker, times: 5, on: tap, in: vm)
        #expect(eventually(3) { looped() - before >= 5 }, "each copy counted: \(looped() - before)")
    }

    @Test func noLoopbackFrameReachesAVMWhileAnUplinkOpens() throws {
        let tcpdump = try #require(["/usr/bin/tcpdump", "/usr/sbin/tcpdump"].first { FileManager.default.isExecutableFile(atPath: $0) },
                                   "tcpdump is installed by `make test`")
        let lan = try LAN(subnet: "10.87.0")
        let vnetd = try VnetdUnderTest()
        let (network, _, vm, tap) = try Self.externalVM(vnetd, lan, address: "10.87.0.10/24")
        let capture = vnetd.folder.path + "/capture.txt"
        let dump = try spawn(["ip", "netns", "exec", vm.name, tcpdump, "-i", tap, "-n", "-e", "-l", "ether src 00:00:00:00:00:00"], logFile: capture)
        defer { kill(dump, SIGTERM); waitpid(dump, nil, 0) }
        usleep(500_000)

        // Loopback traffic all the while (its frames carry all-zero MACs), bounded in time.
        let flooding = Thread {
            let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(9).bigEndian
            address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
            let payload = [UInt8](repeating: 0x4C, count: 100)
            let deadline = Date().addingTimeInterval(6)
            while Date() < deadline {
                _ = withUnsafePointer(to: &address) { pointer in
                    pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, payload, payload.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
            }
        }
        flooding.start()
        // Each change to guest-only and back closes the uplink and opens a new packet socket.
        var version = try #require(try vnetd.services.store.read { try $0.network(network) }).version
        for _ in 0..<20 {
            version = try vnetd.services.networks.update(network, version: version, NetworkDraft(name: "LAN", adapter: nil, notes: "")).version
            vnetd.settle()
            version = try vnetd.services.networks.update(network, version: version, NetworkDraft(name: "LAN", adapter: lan.adapter, notes: "")).version
            vnetd.settle()
        }
        while !flooding.isFinished { usleep(100_000) }
        usleep(300_000)
        let seen = ((try? String(contentsOfFile: capture, encoding: .utf8)) ?? "").split(separator: "\n").filter { $0.contains("00:00:00:00:00:00") }
        #expect(seen.isEmpty, "no loopback frame reached the VM over 20 uplink openings: \(seen.prefix(3))")
        #expect(try vm.canPing("10.87.0.254"), "the uplink works after the last opening")
    }

    /// The kernel takes 802.1Q tags off before packet taps; trunked traffic must keep its VLAN in
    /// both directions. (No 8021q module here: frames are sent raw and seen by tcpdump.)
    @Test func taggedFramesCrossTheUplinkWithTheirVLAN() throws {
        let tcpdump = try #require(["/usr/bin/tcpdump", "/usr/sbin/tcpdump"].first { FileManager.default.isExecutableFile(atPath: $0) },
                                   "tcpdump is installed by `make test`")
        let lan = try LAN(subnet: "10.86.0")
        let vnetd = try VnetdUnderTest()
        let (_, nic, vm, tap) = try Self.externalVM(vnetd, lan, address: "10.86.0.10/24")
        #expect(try vm.canPing("10.86.0.254"))
        let lanHost = MACAddress(value: 0x0200_0086_00FE)

        func captured(in namespace: Namespace, on interface: String, filter: String, while sending: () throws -> Void) throws -> [Substring] {
            let file = vnetd.folder.path + "/vlan-\(UInt32.random(in: 0...UInt32.max)).txt"
            let dump = try spawn(["ip", "netns", "exec", namespace.name, tcpdump, "-i", interface, "-n", "-e", "-l", filter], logFile: file)
            usleep(700_000)
            try sending()
            usleep(500_000)
            kill(dump, SIGTERM)
            waitpid(dump, nil, 0)
            return ((try? String(contentsOfFile: file, encoding: .utf8)) ?? "").split(separator: "\n").filter { $0.contains("vlan") }
        }
        let toVM = EthernetBuilder.header(destination: nic.mac, source: lanHost, type: EtherType(rawValue: 0x88B5), vlanID: 10)
            + Array("tagged from the LAN".utf8) + [UInt8](repeating: 0, count: 30)
        let seenByVM = try captured(in: vm, on: tap, filter: "vlan 10") {
            try sendRaw(toVM, times: 3, on: lan.far, in: lan.namespace)
        }
        #expect(!seenByVM.isEmpty, "the VM gets the LAN's VLAN 10 frame with its tag")
        let toLAN = EthernetBuilder.header(destination: .broadcast, source: nic.mac, type: EtherType(rawValue: 0x88B5), vlanID: 20)
            + Array("tagged from the VM".utf8) + [UInt8](repeating: 0, count: 30)
        let seenByLAN = try captured(in: lan.namespace, on: lan.far, filter: "vlan 20") {
            try sendRaw(toLAN, times: 3, on: tap, in: vm)
        }
        #expect(!seenByLAN.isEmpty, "the LAN gets the VM's VLAN 20 frame with its tag")
    }
}

/// Sends `frame` as it is, `times` times, on `interface` inside `namespace`.
func sendRaw(_ frame: [UInt8], times: Int, on interface: String, in namespace: Namespace) throws {
    let result = frame.withUnsafeBufferPointer { testnet_send_raw("/var/run/netns/" + namespace.name, interface, $0.baseAddress, $0.count, Int32(times)) }
    guard result == 0 else { throw CommandFailure(description: "sending a raw frame on \(interface) in \(namespace.name): \(-result)") }
}
