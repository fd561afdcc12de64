import Foundation
import CTestNet
import Packets
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The host and the VMs of an external network talk, as on a Linux bridge or Hyper-V's external
/// switch. The real vnetd runs inside a namespace that plays the host: its end of a veth pair is
/// the bound adapter (with the host's address), the other end is the LAN in a namespace of its own,
/// and the VM is a namespace on vnetd's TAP. Nothing here touches the machine's own interfaces.
@Suite("The host reaches the VMs of its external networks", .serialized, .enabled(if: rootTestsRun, Comment(rawValue: needsRoot)))
struct HostAccessTests {
    @Test func theHostAndAVMPingAndMoveTCPBothWaysWithoutLoops() throws {
        let vnetd = try #require(vnetdExecutable, "the vnetd executable is built by `swift build`")
        let tcpdump = try #require(["/usr/bin/tcpdump", "/usr/sbin/tcpdump"].first { FileManager.default.isExecutableFile(atPath: $0) },
                                   "tcpdump is installed by `make test`")
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let host = try Namespace("host"), lan = try Namespace("lan"), vm = try Namespace("vm")
        for namespace in [host, lan, vm] {
            try run(["ip", "netns", "exec", namespace.name, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"])
        }
        let suffix = String(UInt32.random(in: 0...0xFFFF), radix: 16)
        let adapter = "vth\(suffix)", far = "vtl\(suffix)"
        try run(["ip", "-n", host.name, "link", "add", adapter, "type", "veth", "peer", "name", far, "netns", lan.name])
        try run(["ip", "-n", host.name, "addr", "add", "10.84.0.1/24", "dev", adapter])
        try run(["ip", "-n", host.name, "link", "set", adapter, "up"])
        try run(["ip", "-n", lan.name, "addr", "add", "10.84.0.254/24", "dev", far])
        try run(["ip", "-n", lan.name, "link", "set", far, "up"])

        let data = folder.path + "/data"
        try run(["ip", "netns", "exec", host.name, vnetd, "populate", "--data-dir", data, "--networks", "1", "--vms", "1",
                 "--backend", "tap", "--external", adapter])
        let log = folder.path + "/vnetd.log"
        let server = try spawn(["ip", "netns", "exec", host.name, vnetd, "serve", "--listen", "127.0.0.1:\(UInt16.random(in: 20_000...40_000))",
                                "--data-dir", data, "--log-level", "info",
                                "--templates", repositoryRoot + "/Templates", "--public", repositoryRoot + "/Public"], logFile: log)
        var stopped = false
        defer { if !stopped { kill(server, SIGKILL); waitpid(server, nil, 0) } }
        func vmTAPs() throws -> [String] {
            try interfaces(in: host).filter { $0.hasPrefix("vnd") && $0.dropFirst(3).allSatisfy(\.isHexDigit) }
        }
        try #require(try eventually(15) { try vmTAPs().count == 1 }, "vnetd made the VM's TAP: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        let tap = try #require(try vmTAPs().first)
        try run(["ip", "-n", host.name, "link", "set", tap, "netns", vm.name])
        try run(["ip", "-n", vm.name, "addr", "add", "10.84.0.10/24", "dev", tap])
        try run(["ip", "-n", vm.name, "link", "set", tap, "up"])

        #expect(try vm.canPing("10.84.0.254"), "the VM is on the LAN")
        #expect(try lan.canPing("10.84.0.10"), "the LAN reaches the VM")
        #expect(try vm.canPing("10.84.0.1"), "the VM reaches the host")
        #expect(try host.canPing("10.84.0.10"), "the host reaches the VM")
        let route = try run(["ip", "-n", host.name, "neigh", "show", "10.84.0.10"]).output
        #expect(route.contains("dev \(adapter)") || route.contains("lladdr"), "the host knows the VM on its adapter: \(route)")

        let bytes = 16 << 20
        let toHost = testnet_tcp_transfer("/var/run/netns/" + vm.name, "/var/run/netns/" + host.name, "10.84.0.1", 5301, bytes, 7, 30)
        #expect(toHost == bytes, "TCP from the VM to the host: \(toHost) of \(bytes) bytes intact")
        let toVM = testnet_tcp_transfer("/var/run/netns/" + host.name, "/var/run/netns/" + vm.name, "10.84.0.10", 5302, bytes, 8, 30)
        #expect(toVM == bytes, "TCP from the host to the VM: \(toVM) of \(bytes) bytes intact")

        // A VM broadcast reaches the LAN once and the host once: nothing loops back in.
        let mac = try #require(try run(["ip", "-n", vm.name, "-br", "link", "show", "dev", tap]).output
            .split(separator: " ", omittingEmptySubsequences: true).dropFirst(2).first.flatMap { MACAddress(parsing: String($0)) })
        let marker = EthernetBuilder.header(destination: .broadcast, source: mac, type: EtherType(rawValue: 0x88B6))
            + Array("once only".utf8) + [UInt8](repeating: 0, count: 40)
        let onLAN = folder.path + "/lan.txt", onHost = folder.path + "/host.txt", backOnVM = folder.path + "/vm.txt"
        let dumps = [
            try spawn(["ip", "netns", "exec", vm.name, tcpdump, "-Q", "in", "-i", tap, "-n", "-e", "-l", "ether proto 0x88b6"], logFile: backOnVM),
            try spawn(["ip", "netns", "exec", lan.name, tcpdump, "-i", far, "-n", "-e", "-l", "ether proto 0x88b6"], logFile: onLAN),
            try spawn(["ip", "netns", "exec", host.name, tcpdump, "-Q", "in", "-i", adapter, "-n", "-e", "-l", "ether proto 0x88b6"], logFile: onHost),
        ]
        usleep(800_000)
        try sendRaw(marker, times: 5, on: tap, in: vm)
        usleep(800_000)
        for dump in dumps { kill(dump, SIGTERM); waitpid(dump, nil, 0) }
        func seen(_ file: String) -> Int {
            ((try? String(contentsOfFile: file, encoding: .utf8)) ?? "").split(separator: "\n").filter { $0.contains("0x88b6") }.count
        }
        #expect(seen(onLAN) == 5, "each of 5 VM broadcasts reaches the LAN once: \(seen(onLAN))")
        #expect(seen(onHost) == 5, "and the host's stack once: \(seen(onHost))")
        #expect(seen(backOnVM) == 0, "the host's copy does not come back to the VM: \(seen(backOnVM))")

        kill(server, SIGTERM)
        var status: Int32 = 0
        while waitpid(server, &status, 0) < 0 && errno == EINTR {}
        stopped = true
        #expect(VnetdProcess.describe(status) == "exit 0")
        #expect(try interfaces(in: host).allSatisfy { !$0.hasPrefix("vnd") }, "vnetd leaves no interface of its own behind")

        // Killed, it leaves none either: the kernel removes a TAP with its last descriptor.
        let again = try spawn(["ip", "netns", "exec", host.name, vnetd, "serve", "--listen", "127.0.0.1:\(UInt16.random(in: 20_000...40_000))",
                               "--data-dir", data, "--templates", repositoryRoot + "/Templates", "--public", repositoryRoot + "/Public"], logFile: log)
        let started = try eventually(15) { try interfaces(in: host).contains { $0.hasPrefix("vndh") } }
        kill(again, SIGKILL)
        waitpid(again, nil, 0)
        #expect(started, "the second start opened the host's way in again")
        #expect(try eventually(5) { try interfaces(in: host).allSatisfy { !$0.hasPrefix("vnd") } }, "nothing left after a kill")
    }

    private func interfaces(in namespace: Namespace) throws -> [String] {
        try run(["ip", "-n", namespace.name, "-br", "link"]).output.split(separator: "\n").compactMap { line in
            line.split(separator: " ").first.map { String($0.split(separator: "@").first ?? $0) }
        }
    }
}
