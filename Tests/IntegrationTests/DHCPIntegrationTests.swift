import AdminSite
import Application
import Dataplane
import Domain
import Foundation
import Packets
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

let busybox = ["/usr/bin/busybox", "/bin/busybox"].first { FileManager.default.isExecutableFile(atPath: $0) }

/// busybox udhcpc's hook: applies the address it got (and logs what happened).
func udhcpcScript(in folder: String) throws -> String {
    let path = folder + "/udhcpc.sh"
    try """
    #!/bin/sh
    case "$1" in
      deconfig) ip addr flush dev "$interface" ;;
      bound|renew) ip addr flush dev "$interface"; ip addr add "$ip/$subnet" dev "$interface" ;;
    esac
    echo "$1 $ip" >> "\(folder)/udhcpc-$interface.log"
    """.write(toFile: path, atomically: true, encoding: .utf8)
    chmod(path, 0o755)
    return path
}

extension Namespace {
    /// Runs udhcpc once (quit after the lease) and returns the address it configured. Bounded:
    /// a client that hangs must not keep the test process (and everything waiting on it) alive.
    func leaseAddress(_ interface: String, script: String, extra: [String] = []) throws -> String? {
        let result = try run(["timeout", "-k", "5", "60", "ip", "netns", "exec", name, busybox ?? "busybox", "udhcpc", "-i", interface, "-s", script, "-n", "-q", "-t", "6", "-T", "1"] + extra, check: false)
        guard result.status == 0 else { return nil }
        let (_, shown) = try run(["ip", "-n", name, "-4", "-o", "addr", "show", "dev", interface])
        return shown.firstMatch(of: /inet (\d+\.\d+\.\d+\.\d+)/).map { String($0.1) }
    }
}

@Suite("DHCP with real clients in namespaces", .serialized, .enabled(if: rootTestsRun, Comment(rawValue: needsRoot)))
struct DHCPIntegrationTests {
    func enable(_ vnetd: VnetdUnderTest, _ network: NetworkID, lease: Int = 3600) throws -> DHCPSettings {
        var draft = DHCPDraft(try vnetd.services.dhcp.settings(of: network))
        draft.isEnabled = true
        draft.leaseTime = String(lease)
        draft.renewalTime = String(lease / 2)
        draft.rebindingTime = String(lease * 7 / 8)
        let settings = try vnetd.services.dhcp.update(network, version: 0, draft)
        vnetd.settle()
        return settings
    }

    @Test func vmsGetDistinctAddressesPingEachOtherAndReservationsWin() throws {
        _ = try #require(busybox, "busybox is missing: `make test` installs it")
        let vnetd = try VnetdUnderTest()
        let lab = try vnetd.services.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        let settings = try enable(vnetd, lab.id)
        let script = try udhcpcScript(in: vnetd.folder.path)
        let (vmA, tapA) = try vnetd.tapVM("a", on: lab.id)
        let (_, tapB) = try vnetd.tapVM("b", on: lab.id)
        let (vmC, tapC) = try vnetd.tapVM("c", on: lab.id)
        let reserved = IPv4Address(value: settings.network.value + 200)
        let nicC = try vnetd.nic(of: vmC)
        let version = try vnetd.services.dhcp.settings(of: lab.id).version
        try vnetd.services.dhcp.addReservation(to: lab.id, version: version, mac: nicC.mac.description, address: reserved.description, hostName: "cee")
        vnetd.settle()

        let a = try Namespace("dha"), b = try Namespace("dhb"), c = try Namespace("dhc")
        for (namespace, tap) in [(a, tapA), (b, tapB), (c, tapC)] {
            try run(["ip", "link", "set", tap, "netns", namespace.name])
            try run(["ip", "-n", namespace.name, "link", "set", tap, "up"])
        }
        let addressA = try #require(try a.leaseAddress(tapA, script: script))
        let addressB = try #require(try b.leaseAddress(tapB, script: script))
        let addressC = try #require(try c.leaseAddress(tapC, script: script))
        #expect(addressA != addressB)
        for address in [addressA, addressB] {
            let value = try #require(IPv4Address(parsing: address))
            #expect(value >= settings.rangeStart && value <= settings.rangeEnd)
        }
        #expect(addressC == reserved.description)
        #expect(try a.canPing(addressB))
        #expect(try c.canPing(addressA))

        // The leases are stored with the VMs they belong to, before the ACKs went out.
        let stored = try vnetd.services.store.read { try $0.leases(of: lab.id) }
        #expect(Set(stored.map(\.address.description)) == [addressA, addressB, addressC])
        let nicA = try vnetd.nic(of: vmA)
        #expect(stored.first { $0.address.description == addressA }?.mac == nicA.mac)
    }

    @Test func leasesRenewReleaseAndSurviveARestart() throws {
        let box = try #require(busybox, "busybox is missing: `make test` installs it")
        let vnetd = try VnetdUnderTest()
        let lab = try vnetd.services.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        let settings = try enable(vnetd, lab.id, lease: 120)
        let script = try udhcpcScript(in: vnetd.folder.path)
        let (_, tap) = try vnetd.tapVM("r", on: lab.id)
        let namespace = try Namespace("dhr")
        try run(["ip", "link", "set", tap, "netns", namespace.name])
        try run(["ip", "-n", namespace.name, "link", "set", tap, "up"])

        // A long-running client: SIGUSR1 renews, SIGUSR2 releases.
        /// Starts udhcpc; returns its pidfile. udhcpc rewrites the file when it goes to the
        /// background after its first lease, so read the PID only after that.
        func startClient(_ extra: String = "") throws -> String {
            let pidFile = vnetd.folder.path + "/udhcpc-\(UInt16.random(in: 0...9999)).pid"
            // It goes to the background: its output must not keep our pipe open.
            try run(["sh", "-c", "ip netns exec \(namespace.name) \(box) udhcpc -i \(tap) -s \(script) -b -p \(pidFile) -t 6 -T 1 \(extra) >/dev/null 2>&1"])
            return pidFile
        }
        func pid(_ pidFile: String) throws -> String {
            _ = eventually(3) { (try? run(["kill", "-0", (try? String(contentsOfFile: pidFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "0"], check: false).status) == 0 }
            return try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        func storedLease() -> DHCPLease? { (try? vnetd.services.store.read { try $0.leases(of: lab.id) })?.first }

        var pidFile = try startClient()
        defer { if let running = try? pid(pidFile) { _ = try? run(["kill", running], check: false) } }
        #expect(eventually(10) { storedLease() != nil })
        let first = try #require(storedLease())
        sleep(2)
        try run(["kill", "-USR1", try pid(pidFile)])
        #expect(eventually(8) { (storedLease()?.expires ?? .distantPast) > first.expires && storedLease()?.address == first.address },
                "a renewal extends the stored lease")
        let renewed = try #require(storedLease())
        try run(["kill", "-KILL", try pid(pidFile)])

        try vnetd.restart()
        #expect(try vnetd.services.store.read { try $0.leases(of: lab.id) } == [renewed], "the lease survives the restart")
        // The TAP is new after a restart (same name, same MAC); a client that remembers its
        // address asks for it again (INIT-REBOOT) and keeps it.
        #expect(eventually { (try? run(["ip", "link", "show", tap], check: false).status) == 0 })
        try run(["ip", "link", "set", tap, "netns", namespace.name])
        try run(["ip", "-n", namespace.name, "link", "set", tap, "up"])
        sleep(1)
        pidFile = try startClient("-r \(first.address)")
        #expect(eventually(8) { (storedLease()?.expires ?? .distantPast) > renewed.expires && storedLease()?.address == first.address },
                "the same address again after the restart")

        // The lease is stored before the ACK leaves; a release means something only once the
        // client has the ACK (bound), or udhcpc has nothing to release.
        let clientLog = vnetd.folder.path + "/udhcpc-\(tap).log"
        #expect(eventually(8) {
            ((try? String(contentsOfFile: clientLog, encoding: .utf8)) ?? "").components(separatedBy: "bound ").count - 1 >= 2
        }, "the second client is bound")
        // udhcpc sends its RELEASE once, by unicast, and removes the address at once: on an
        // interface that is new since the restart, the packet waits for ARP and can be lost
        // with the address (the client's race, not the server's). Resolve the server first.
        _ = try run(["ip", "netns", "exec", namespace.name, "ping", "-c", "1", "-W", "1", settings.server.description], check: false)
        #expect(eventually(5) { (try? run(["ip", "-n", namespace.name, "neigh", "show", settings.server.description]).output.contains("lladdr")) == true },
                "the client knows the server's MAC address")
        try run(["kill", "-USR2", try pid(pidFile)])
        // RFC 2131 §4.3.4: the lease ends; the record stays, so the client can have it back.
        let released = eventually(8) { storedLease().map { $0.expires <= Date() && $0.address == first.address } == true }
        vnetd.settle()
        #expect(released, "a release ends the lease; server counters: \(String(describing: vnetd.services.status.status(of: lab.id).dhcp))")
    }

    @Test func aVMOnASecondNetworkGetsAnAddressFromThatNetworksServerOnly() throws {
        _ = try #require(busybox, "busybox is missing: `make test` installs it")
        let vnetd = try VnetdUnderTest()
        let first = try vnetd.services.networks.create(NetworkDraft(name: "First", adapter: nil, notes: ""))
        let second = try vnetd.services.networks.create(NetworkDraft(name: "Second", adapter: nil, notes: ""))
        let one = try enable(vnetd, first.id)
        let two = try enable(vnetd, second.id)
        #expect(one.network != two.network, "proposed networks do not overlap")
        let script = try udhcpcScript(in: vnetd.folder.path)
        // A VM on each network: each lease comes from its own network's server and range.
        let (_, firstTap) = try vnetd.tapVM("f", on: first.id)
        let firstNamespace = try Namespace("dhf")
        try run(["ip", "link", "set", firstTap, "netns", firstNamespace.name])
        try run(["ip", "-n", firstNamespace.name, "link", "set", firstTap, "up"])
        let (_, tap) = try vnetd.tapVM("s", on: second.id)
        let namespace = try Namespace("dhs")
        try run(["ip", "link", "set", tap, "netns", namespace.name])
        try run(["ip", "-n", namespace.name, "link", "set", tap, "up"])
        let address = try #require(try namespace.leaseAddress(tap, script: script))
        let firstAddress = try #require(try firstNamespace.leaseAddress(firstTap, script: script))
        #expect(two.contains(try #require(IPv4Address(parsing: address))))
        #expect(one.contains(try #require(IPv4Address(parsing: firstAddress))))
        let firstLeases = try vnetd.services.store.read { try $0.leases(of: first.id) }
        let secondLeases = try vnetd.services.store.read { try $0.leases(of: second.id) }
        #expect(firstLeases.count == 1 && firstLeases.allSatisfy { one.contains($0.address) })
        #expect(secondLeases.count == 1 && secondLeases.allSatisfy { two.contains($0.address) })

        // Turning DHCP off stops answering at once.
        var off = DHCPDraft(try vnetd.services.dhcp.settings(of: second.id))
        off.isEnabled = false
        try vnetd.services.dhcp.update(second.id, version: try vnetd.services.dhcp.settings(of: second.id).version, off)
        vnetd.settle()
        try run(["ip", "-n", namespace.name, "addr", "flush", "dev", tap])
        #expect(try namespace.leaseAddress(tap, script: script) == nil)
    }
}
