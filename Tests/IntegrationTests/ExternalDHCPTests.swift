import Domain
import Foundation
import Packets
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// DHCP on an external network, seen from both sides: with vnetd's server off the VMs use the
/// LAN's, with it on they hear only vnetd's, and nothing DHCP crosses between them and the LAN.
@Suite("DHCP on an external network", .serialized, .enabled(if: rootTestsRun, Comment(rawValue: needsRoot)))
struct ExternalDHCPTests {
    @Test func vmsUseTheLANsServerUntilTheBuiltInOneIsOnAndThenHearOnlyIt() throws {
        let busybox = try #require(busybox, "busybox is missing: `make test` installs it")
        let tcpdump = try #require(["/usr/bin/tcpdump", "/usr/sbin/tcpdump"].first { FileManager.default.isExecutableFile(atPath: $0) },
                                   "tcpdump is installed by `make test`")
        let lan = try UplinkTests.LAN(subnet: "10.83.0")
        let vnetd = try VnetdUnderTest()
        let folder = vnetd.folder.path
        try """
        start 10.83.0.100
        end 10.83.0.110
        interface \(lan.far)
        lease_file \(folder)/udhcpd.leases
        option subnet 255.255.255.0
        """.write(toFile: folder + "/udhcpd.conf", atomically: true, encoding: .utf8)
        FileManager.default.createFile(atPath: folder + "/udhcpd.leases", contents: nil)
        let server = try spawn(["ip", "netns", "exec", lan.namespace.name, busybox, "udhcpd", "-f", folder + "/udhcpd.conf"], logFile: folder + "/udhcpd.log")
        defer { kill(server, SIGTERM); waitpid(server, nil, 0) }

        try vnetd.services.adapters.setBindings(bound: [lan.adapter])
        let network = try vnetd.services.networks.create(NetworkDraft(name: "LAN", adapter: lan.adapter, notes: "")).id
        let (_, tap) = try vnetd.tapVM("vm", on: network)
        let vm = try Namespace("xdvm")
        try run(["ip", "link", "set", tap, "netns", vm.name])
        try run(["ip", "-n", vm.name, "link", "set", tap, "up"])
        let script = try udhcpcScript(in: folder)

        // Off: the VM is one more host on the LAN and takes the LAN's offer.
        let fromLAN = try #require(try vm.leaseAddress(tap, script: script), "the LAN's DHCP server leases to the VM")
        #expect(fromLAN.hasPrefix("10.83.0.1"), "an address from the LAN's range: \(fromLAN)")

        // On: only vnetd's server answers, and the LAN never hears the VM ask.
        var draft = DHCPDraft(try vnetd.services.dhcp.settings(of: network))
        draft.isEnabled = true
        let settings = try vnetd.services.dhcp.update(network, version: 0, draft)
        vnetd.settle()
        try run(["ip", "-n", vm.name, "addr", "flush", "dev", tap])
        let fromVnetd = try #require(try vm.leaseAddress(tap, script: script), "vnetd's server leases to the VM")
        #expect(settings.contains(try #require(IPv4Address(parsing: fromVnetd))), "an address from vnetd's range: \(fromVnetd)")
        vnetd.settle()
        let uplink = try #require(vnetd.services.status.status(of: network).ports.first { $0.kind == .uplink(adapter: lan.adapter) })
        #expect(uplink.counters.drops.contains { $0.reason == "DHCP kept apart (built-in server on)" && $0.count > 0 },
                "the VM's requests were kept from the LAN and counted: \(uplink.counters.drops)")

        // A DHCP reply from the LAN (a rogue or the LAN's own server) never reaches the VM.
        let capture = folder + "/vm-dhcp.txt"
        let dump = try spawn(["ip", "netns", "exec", vm.name, tcpdump, "-i", tap, "-n", "-l", "udp port 68 and ether src 02:00:00:83:00:fe"], logFile: capture)
        usleep(700_000)
        let offer = UDPDatagram.frame(sourceMAC: MACAddress(value: 0x0200_0083_00FE), destinationMAC: .broadcast, source: IPv4Address(10, 83, 0, 254),
                                      destination: .broadcast, sourcePort: 67, destinationPort: 68, payload: [UInt8](repeating: 0, count: 300))
        try sendRaw(offer, times: 5, on: lan.far, in: lan.namespace)
        usleep(500_000)
        kill(dump, SIGTERM)
        waitpid(dump, nil, 0)
        let seen = ((try? String(contentsOfFile: capture, encoding: .utf8)) ?? "").split(separator: "\n").filter { $0.contains(" > ") }
        #expect(seen.isEmpty, "no DHCP from the LAN reached the VM: \(seen.prefix(2))")
        vnetd.settle()
        let after = try #require(vnetd.services.status.status(of: network).ports.first { $0.kind == .uplink(adapter: lan.adapter) })
        let kept = after.counters.drops.first { $0.reason == "DHCP kept apart (built-in server on)" }?.count ?? 0
        let before = uplink.counters.drops.first { $0.reason == "DHCP kept apart (built-in server on)" }?.count ?? 0
        #expect(kept >= before + 5, "each of the LAN's 5 replies counted")
        // And ordinary broadcast from the LAN still reaches the VM.
        try run(["ip", "-n", vm.name, "addr", "add", "10.83.0.50/24", "dev", tap])
        #expect(try vm.canPing("10.83.0.254"))
    }
}
