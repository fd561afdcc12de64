import Domain
import Foundation
import Packets
import Storage
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Host and NAT networks with the real vnetd, run INSIDE a network namespace of the test's own
/// ("host"), whose only way out is a veth to a namespace playing the internet ("inet",
/// 203.0.113.2 and 2001:db8:14::2). The host interface, vnetd's nftables table and the forwarding
/// switches all live in "host": the machine's own routing, firewall and ip_forward are never
/// touched. A VM is a namespace holding the TAP vnetd made for its NIC.
@Suite("Host and NAT networks, vnetd in a namespace", .serialized, .enabled(if: rootTestsRun, Comment(rawValue: needsRoot)))
struct HostNATTests {
    static let ipv6Prefix = "fd00:14:1:1::/64"

    /// A host (or NAT) network with DHCP on, one VM with a TAP adapter, and (NAT) a forward of
    /// TCP 8080 of the host to the VM's port 80, stored before vnetd starts (no data path runs here).
    struct Prepared {
        var network: VirtualNetwork
        var scope: DHCPSettings
        var nic: VirtualNIC
        var tap: String { "vnd" + String(nic.id.rawValue.filter(\.isHexDigit).prefix(12)) }
        var hostAddress: String { network.hostInterface.effectiveAddress(in: scope).description }
        var hostInterface: String { HostInterfaceSettings.interfaceName(for: network.id) }
    }

    static func prepare(data: String, kind: NetworkDraft.Kind) throws -> Prepared {
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        let database = try VnetdDatabase(directory: data)
        defer { try? database.close() }
        let store = SQLiteInventoryStore(database: database)
        let clock = WallClock()
        let networks = NetworkService(store: store, clock: clock, dataplane: NoDataplane(), adapters: FixedAdapters([]))
        let network = try networks.create(NetworkDraft(name: "Outside", adapter: nil, notes: "", kind: kind, host: HostInterfaceDraft(ipv6: ipv6Prefix)))
        let vms = VirtualMachineService(store: store, clock: clock, dataplane: NoDataplane())
        let vm = try vms.create(name: "web", notes: "", connectingTo: network.id)
        let nic = try #require(try store.read { try $0.nics(of: vm.id) }.first)
        try vms.configureNICs(of: vm.id, version: try #require(try store.read { try $0.vm(vm.id) }).version, [
            NICSetting(nicID: nic.id, networkID: network.id, assignment: .dynamic, backend: .tap),
        ])
        if kind == .nat {
            let forwards = PortForwardService(store: store, clock: clock, dataplane: NoDataplane(), hostPorts: NoHostPorts())
            try forwards.add(to: network.id, PortForwardDraft(proto: "tcp", hostAddress: "", hostPort: "8080", mac: nic.mac.description, guestPort: "80"))
        }
        let scope = try #require(try store.read { try $0.dhcpSettings(of: network.id) })
        return Prepared(network: network, scope: scope, nic: nic)
    }

    struct WallClock: Domain.Clock {
        func now() -> Date { Date() }
    }

    /// "host" with a veth to "inet" (its default route), nothing else.
    static func world() throws -> (host: Namespace, inet: Namespace) {
        let host = try Namespace("nh"), inet = try Namespace("ni")
        try run(["ip", "link", "add", "up0", "netns", host.name, "type", "veth", "peer", "name", "down0", "netns", inet.name])
        try run(["ip", "-n", host.name, "addr", "add", "203.0.113.1/24", "dev", "up0"])
        try run(["ip", "-n", inet.name, "addr", "add", "203.0.113.2/24", "dev", "down0"])
        try run(["ip", "-n", host.name, "addr", "add", "2001:db8:14::1/64", "dev", "up0", "nodad"])
        try run(["ip", "-n", inet.name, "addr", "add", "2001:db8:14::2/64", "dev", "down0", "nodad"])
        try run(["ip", "-n", host.name, "link", "set", "up0", "up"])
        try run(["ip", "-n", inet.name, "link", "set", "down0", "up"])
        try run(["ip", "-n", host.name, "route", "add", "default", "via", "203.0.113.2"])
        try run(["ip", "-n", host.name, "-6", "route", "add", "default", "via", "2001:db8:14::2"])
        return (host, inet)
    }

    /// vnetd serving inside `host`; waits until its VM's TAP and host interface exist there.
    static func start(_ data: String, in host: Namespace, _ prepared: Prepared, log: String) throws -> VnetdProcess {
        let vnetd = try VnetdProcess(data: data, logFile: log, launcher: ["ip", "netns", "exec", host.name], waitUntilServing: false)
        let present = eventually(20) {
            (try? run(["ip", "-n", host.name, "link", "show", prepared.hostInterface], check: false).status) == 0
        }
        guard present else {
            vnetd.stop(signal: SIGKILL)
            throw CommandFailure(description: "vnetd made no host interface: \(vnetd.log.suffix(2000))")
        }
        return vnetd
    }

    static func nft(_ host: Namespace, _ arguments: [String]) throws -> (status: Int32, output: String) {
        try run(["ip", "netns", "exec", host.name, "nft"] + arguments, check: false)
    }

    /// Moves the VM's TAP into its own namespace and takes a lease with busybox udhcpc (bounded).
    static func vm(_ prepared: Prepared, from host: Namespace, folder: String) throws -> (Namespace, String) {
        let vm = try Namespace("nv")
        _ = eventually(10) { (try? run(["ip", "-n", host.name, "link", "show", prepared.tap], check: false).status) == 0 }
        try run(["ip", "-n", host.name, "link", "set", prepared.tap, "netns", vm.name])
        try run(["ip", "-n", vm.name, "link", "set", prepared.tap, "up"])
        let script = folder + "/udhcpc-route.sh"
        try """
        #!/bin/sh
        case "$1" in
          deconfig) ip addr flush dev "$interface" ;;
          bound|renew) ip addr flush dev "$interface"; ip addr add "$ip/$subnet" dev "$interface"; [ -n "$router" ] && ip route replace default via "$router" ;;
        esac
        echo "$1 $ip $router $dns" >> "\(folder)/udhcpc-$interface.log"
        """.write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        let address = try #require(try vm.leaseAddress(prepared.tap, script: script), "the VM got a lease from vnetd")
        return (vm, address)
    }

    @Test func aVMOnAHostNetworkReachesTheHostAndRenewsByUnicastWithOneARPAnswer() throws {
        let box = try #require(busybox, "busybox is missing: `make test` installs it")
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let prepared = try Self.prepare(data: folder.path + "/data", kind: .host)
        let (host, _) = try Self.world()
        let vnetd = try Self.start(folder.path + "/data", in: host, prepared, log: folder.path + "/vnetd.log")
        defer { vnetd.stop() }
        let shown = try run(["ip", "-n", host.name, "-o", "addr", "show", "dev", prepared.hostInterface]).output
        #expect(shown.contains("inet \(prepared.hostAddress)/\(prepared.scope.prefixLength)"), "the host interface has the host address: \(shown)")
        #expect(shown.contains("inet6 fd00:14:1:1::1/64"), "and the /64's ::1")

        let (vm, address) = try Self.vm(prepared, from: host, folder: folder.path)
        let clientLog = try String(contentsOfFile: folder.path + "/udhcpc-\(prepared.tap).log", encoding: .utf8)
        #expect(clientLog.contains("bound \(address) \(prepared.hostAddress)"), "the router handed out is the host's address: \(clientLog)")
        #expect(try vm.canPing(prepared.hostAddress), "the VM pings the host interface")
        #expect(try run(["ip", "netns", "exec", host.name, "ping", "-c", "2", "-i", "0.2", "-W", "1", "-q", address], check: false).status == 0,
                "the host pings the VM")
        // One answer to an ARP request for the host's address: the kernel's, not the DHCP server's too.
        let arping = try run(["timeout", "10", "ip", "netns", "exec", vm.name, box, "arping", "-c", "1", "-w", "2", "-I", prepared.tap, prepared.hostAddress], check: false).output
        #expect(arping.contains("Received 1 response"), "exactly one ARP answer: \(arping)")
        // A running client renews by unicast to the server's address, which is the host's MAC now.
        let pidFile = folder.path + "/udhcpc.pid"
        try run(["sh", "-c", "ip netns exec \(vm.name) \(box) udhcpc -i \(prepared.tap) -s \(folder.path)/udhcpc-route.sh -b -p \(pidFile) -t 6 -T 1 -r \(address) >/dev/null 2>&1"])
        func pid() -> String { ((try? String(contentsOfFile: pidFile, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines) }
        defer { if !pid().isEmpty { _ = try? run(["kill", pid()], check: false) } }
        func renewals() -> Int {
            ((try? String(contentsOfFile: folder.path + "/udhcpc-\(prepared.tap).log", encoding: .utf8)) ?? "").components(separatedBy: "renew \(address)").count - 1
        }
        #expect(eventually(10) { ((try? String(contentsOfFile: folder.path + "/udhcpc-\(prepared.tap).log", encoding: .utf8)) ?? "").components(separatedBy: "bound ").count >= 3 })
        sleep(1)
        try run(["kill", "-USR1", pid()])
        #expect(eventually(8) { renewals() >= 1 }, "a unicast RENEW to the host's MAC is answered")
        // A host network forwards nothing: the internet namespace is not reachable from the VM.
        #expect(try !vm.reaches("203.0.113.2"))
        #expect(vnetd.errorLines().isEmpty, "\(vnetd.errorLines())")
    }

    @Test func aVMOnANATNetworkReachesTheOutsideAsTheHostAndAForwardedPortReachesTheVM() throws {
        let box = try #require(busybox, "busybox is missing: `make test` installs it")
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let data = folder.path + "/data"
        let prepared = try Self.prepare(data: data, kind: .nat)
        let (host, inet) = try Self.world()
        var vnetd = try Self.start(data, in: host, prepared, log: folder.path + "/vnetd.log")
        defer { vnetd.stop() }
        let (vm, address) = try Self.vm(prepared, from: host, folder: folder.path)
        #expect(eventually(10) { (try? Self.nft(host, ["list", "table", "inet", "vnetd"]).output.contains("dnat ip to \(address):80")) == true },
                "the forward follows the VM's lease")
        let table = try Self.nft(host, ["list", "table", "inet", "vnetd"]).output
        #expect(table.contains("masquerade"), "\(table)")
        #expect(try Self.nft(host, ["list", "tables"]).output.trimmingCharacters(in: .whitespacesAndNewlines) == "table inet vnetd", "vnetd made no other table")
        #expect(try run(["ip", "netns", "exec", host.name, "sysctl", "-n", "net.ipv4.ip_forward"]).output.hasPrefix("0"), "ip_forward stays off")
        #expect(try run(["ip", "netns", "exec", host.name, "sysctl", "-n", "net.ipv4.conf.up0.forwarding"]).output.hasPrefix("1"))

        // Out: a TCP server in "inet" sees the host's address as the source.
        let seen = folder.path + "/peer.txt"
        let server = try spawn(["timeout", "20", "ip", "netns", "exec", inet.name, "python3", "-c", """
            import socket
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", 7000)); s.listen(1)
            c, a = s.accept(); open("\(seen)", "w").write(a[0]); c.sendall(b"hello from outside"); c.close()
            """], logFile: folder.path + "/server.log")
        defer { kill(server, SIGTERM); var status: Int32 = 0; waitpid(server, &status, 0) }
        var answer = ""
        _ = eventually(8) {
            answer = (try? run(["timeout", "5", "ip", "netns", "exec", vm.name, box, "nc", "203.0.113.2", "7000"], check: false).output) ?? ""
            return answer.contains("hello")
        }
        #expect(answer.contains("hello from outside"), "the VM reached the outside: \(answer)")
        #expect(((try? String(contentsOfFile: seen, encoding: .utf8)) ?? "") == "203.0.113.1", "its source there is the host's address")
        // IPv6 out, masqueraded too.
        try run(["ip", "-n", vm.name, "addr", "add", "fd00:14:1:1::20/64", "dev", prepared.tap, "nodad"])
        try run(["ip", "-n", vm.name, "-6", "route", "replace", "default", "via", "fd00:14:1:1::1"])
        #expect(try run(["ip", "netns", "exec", vm.name, "ping", "-6", "-c", "2", "-i", "0.2", "-W", "1", "-q", "2001:db8:14::2"], check: false).status == 0,
                "IPv6 reaches the outside")
        let counters = try Self.nft(host, ["list", "counters", "table", "inet", "vnetd"]).output
        #expect(counters.range(of: "masq4_\(Self.tag(prepared)) \\{\\s+packets [1-9]", options: .regularExpression) != nil, "masqueraded packets are counted: \(counters)")
        #expect(counters.range(of: "masq6_\(Self.tag(prepared)) \\{\\s+packets [1-9]", options: .regularExpression) != nil, "IPv6 too")

        // In: TCP 8080 of the host's outside address reaches a server in the VM.
        let vmServer = try spawn(["timeout", "20", "ip", "netns", "exec", vm.name, "python3", "-c", """
            import socket
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", 80)); s.listen(1)
            c, a = s.accept(); c.sendall(b"hello from the VM"); c.close()
            """], logFile: folder.path + "/vm-server.log")
        defer { kill(vmServer, SIGTERM); var status: Int32 = 0; waitpid(vmServer, &status, 0) }
        var fromVM = ""
        _ = eventually(8) {
            fromVM = (try? run(["timeout", "5", "ip", "netns", "exec", inet.name, box, "nc", "203.0.113.1", "8080"], check: false).output) ?? ""
            return fromVM.contains("hello")
        }
        #expect(fromVM.contains("hello from the VM"), "the forwarded port reaches the VM: \(fromVM)")
        let hits = try Self.nft(host, ["list", "counters", "table", "inet", "vnetd"]).output
        #expect(hits.range(of: #"fwd_\d+ \{\s+packets [1-9]"#, options: .regularExpression) != nil, "the forward counted its hit: \(hits)")

        // Clean stop: the table goes, the switches vnetd turned on go back off.
        #expect(vnetd.stop() == "exit 0")
        #expect(try Self.nft(host, ["list", "table", "inet", "vnetd"]).status != 0, "no table after a clean stop")
        #expect(try run(["ip", "netns", "exec", host.name, "sysctl", "-n", "net.ipv4.conf.up0.forwarding"]).output.hasPrefix("0"))

        // kill -9 leaves the table; the next vnetd adopts it (counters kept) and a clean stop removes it.
        vnetd = try Self.start(data, in: host, prepared, log: folder.path + "/vnetd-2.log")
        #expect(eventually(10) { (try? Self.nft(host, ["list", "table", "inet", "vnetd"]).status) == 0 })
        vnetd.stop(signal: SIGKILL)
        #expect(try Self.nft(host, ["list", "table", "inet", "vnetd"]).status == 0, "a killed vnetd leaves its table")
        vnetd = try Self.start(data, in: host, prepared, log: folder.path + "/vnetd-3.log")
        #expect(eventually(10) { vnetd.log.contains("adopted") }, "the table is adopted: \(vnetd.log.suffix(1500))")
        #expect(try Self.nft(host, ["list", "tables"]).output.trimmingCharacters(in: .whitespacesAndNewlines) == "table inet vnetd")
        #expect(vnetd.stop() == "exit 0")
        #expect(try Self.nft(host, ["list", "table", "inet", "vnetd"]).status != 0)
        #expect(try run(["ip", "netns", "exec", host.name, "sysctl", "-n", "net.ipv4.conf.up0.forwarding"]).output.hasPrefix("0"),
                "the switch a killed vnetd turned on is turned off by the next one's clean stop")
    }

    /// A DHCP server of the host's own, listening on the host interface (dnsmasq, as a host
    /// running libvirt has), is kept from the network's VMs while vnetd's server is on: their
    /// requests never reach the kernel (and the switch would drop its replies from the host's
    /// port), so the VM's lease comes from vnetd's range, never from dnsmasq's.
    @Test func aDHCPServerOfTheHostsNeverAnswersTheNetworksVMs() throws {
        _ = try #require(busybox, "busybox is missing: `make test` installs it")
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let prepared = try Self.prepare(data: folder.path + "/data", kind: .host)
        let (host, _) = try Self.world()
        let vnetd = try Self.start(folder.path + "/data", in: host, prepared, log: folder.path + "/vnetd.log")
        defer { vnetd.stop() }
        _ = eventually(10) {
            ((try? run(["ip", "-n", host.name, "-o", "addr", "show", "dev", prepared.hostInterface]).output) ?? "").contains("inet \(prepared.hostAddress)/")
        }
        let base = prepared.scope.network.value
        let rogueStart = IPv4Address(value: base + 2), rogueEnd = IPv4Address(value: base + 9)
        let dnsmasq = try spawn(["timeout", "60", "ip", "netns", "exec", host.name, "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0",
                                 "--interface=\(prepared.hostInterface)", "--bind-interfaces", "--dhcp-range=\(rogueStart),\(rogueEnd),255.255.255.0,1h",
                                 "--dhcp-leasefile=\(folder.path)/rogue.leases", "--log-dhcp", "--user=root", "--pid-file="], logFile: folder.path + "/dnsmasq.log")
        defer { kill(dnsmasq, SIGTERM); var status: Int32 = 0; waitpid(dnsmasq, &status, 0) }
        sleep(1)
        let (_, address) = try Self.vm(prepared, from: host, folder: folder.path)
        let value = try #require(IPv4Address(parsing: address)).value
        #expect(value >= prepared.scope.rangeStart.value && value <= prepared.scope.rangeEnd.value, "the lease is vnetd's: \(address)")
        #expect(!(rogueStart.value...rogueEnd.value).contains(value))
        let rogue = (try? String(contentsOfFile: folder.path + "/dnsmasq.log", encoding: .utf8)) ?? ""
        #expect(rogue.contains("sockets bound exclusively to interface \(prepared.hostInterface)"), "dnsmasq served the host interface: \(rogue.suffix(500))")
        #expect(!rogue.contains("DHCPDISCOVER") && !rogue.contains("DHCPOFFER"), "the VMs' requests never reached it: \(rogue.suffix(500))")
    }

    /// A VM cannot pose as another host to the host: datagrams it sends with a source that is not
    /// the network's (here the outside's resolver, 203.0.113.2, and its IPv6 address) are dropped
    /// on the host interface and counted, and never reach a socket of the host's bound to the
    /// wildcard address (as a DNS forwarder's upstream sockets are); the same datagrams from the
    /// VM's own addresses do. (Before, they reached it: the namespace's rp_filter is off, as
    /// Debian's default is loose, which lets such a source in.)
    @Test func aVMSendingWithAForgedSourceIsDroppedAndCountedAndReachesNoHostSocket() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let data = folder.path + "/data"
        let prepared = try Self.prepare(data: data, kind: .nat)
        let (host, _) = try Self.world()
        let vnetd = try Self.start(data, in: host, prepared, log: folder.path + "/vnetd.log")
        defer { vnetd.stop() }
        let (vm, address) = try Self.vm(prepared, from: host, folder: folder.path)
        #expect(eventually(10) { (try? Self.nft(host, ["list", "table", "inet", "vnetd"]).output.contains("spoof4_")) == true },
                "the table screens the host interface: \((try? Self.nft(host, ["list", "table", "inet", "vnetd"]).output) ?? "")")
        try run(["ip", "-n", vm.name, "addr", "add", "fd00:14:1:1::20/64", "dev", prepared.tap, "nodad"])
        try run(["ip", "-n", vm.name, "addr", "add", "203.0.113.2/32", "dev", prepared.tap])
        try run(["ip", "-n", vm.name, "addr", "add", "2001:db8:14::2/128", "dev", prepared.tap, "nodad"])

        // The host's socket: every datagram's text and source, one a line.
        let seen = folder.path + "/seen.txt"
        let listener = try spawn(["timeout", "20", "ip", "netns", "exec", host.name, "python3", "-c", """
            import socket, select
            s4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s4.bind(("0.0.0.0", 5454))
            s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1); s6.bind(("::", 5454))
            out = open("\(seen)", "a", buffering=1)
            while True:
                ready, _, _ = select.select([s4, s6], [], [])
                for s in ready:
                    data, peer = s.recvfrom(2048)
                    out.write(data.decode(errors="replace") + " " + peer[0] + "\\n")
            """], logFile: folder.path + "/listener.log")
        // SIGTERM: `timeout` passes it on to python; a SIGKILL would end only `timeout` and leave python (and the build lock it inherited) behind.
        defer { kill(listener, SIGTERM); var status: Int32 = 0; waitpid(listener, &status, 0) }
        sleep(1)
        func send(_ text: String, from source: String, to destination: String) throws {
            let family = source.contains(":") ? "AF_INET6" : "AF_INET"
            try run(["timeout", "5", "ip", "netns", "exec", vm.name, "python3", "-c", """
                import socket
                s = socket.socket(socket.\(family), socket.SOCK_DGRAM); s.bind(("\(source)", 0))
                for _ in range(5): s.sendto(b"\(text)", ("\(destination)", 5454))
                """])
        }
        try send("genuine4", from: address, to: prepared.hostAddress)
        try send("forged4", from: "203.0.113.2", to: prepared.hostAddress)
        try send("genuine6", from: "fd00:14:1:1::20", to: "fd00:14:1:1::1")
        try send("forged6", from: "2001:db8:14::2", to: "fd00:14:1:1::1")
        try send("genuine4", from: address, to: prepared.hostAddress)
        func lines() -> String { (try? String(contentsOfFile: seen, encoding: .utf8)) ?? "" }
        #expect(eventually(5) { lines().contains("genuine4 \(address)") && lines().contains("genuine6 fd00:14:1:1::20") },
                "the VM's own addresses reach the host: \(lines())")
        #expect(!lines().contains("forged"), "a forged source reaches no socket of the host's: \(lines())")
        let counters = try Self.nft(host, ["list", "counters", "table", "inet", "vnetd"]).output
        #expect(counters.range(of: "spoof4_\(Self.tag(prepared)) \\{\\s+packets ([5-9]|[1-9][0-9]+)\\b", options: .regularExpression) != nil, "dropped and counted: \(counters)")
        #expect(counters.range(of: "spoof6_\(Self.tag(prepared)) \\{\\s+packets ([5-9]|[1-9][0-9]+)\\b", options: .regularExpression) != nil, "IPv6 too: \(counters)")
        #expect(vnetd.errorLines().isEmpty, "\(vnetd.errorLines())")
    }

    static func tag(_ prepared: Prepared) -> String {
        String(prepared.network.id.rawValue.filter(\.isHexDigit).prefix(11)).lowercased()
    }

    /// Without CAP_NET_ADMIN (uid 65534, no capabilities, in the machine's own namespace, where
    /// it can therefore change nothing) the network page says what is missing.
    @Test func withoutCapNetAdminThePageSaysWhatIsMissing() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        chmod(folder.path, 0o777)
        let data = folder.path + "/data"
        let prepared = try Self.prepare(data: data, kind: .nat)
        try run(["chown", "-R", "65534:65534", data])
        let vnetd = try VnetdProcess(data: data, logFile: folder.path + "/vnetd.log",
                                     launcher: ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"])
        defer { vnetd.stop() }
        let browser = try SignedInClient(port: vnetd.port, initialPasswordFile: data + "/initial-admin-password")
        var page = ""
        _ = eventually(10) {
            page = (try? browser.get("/networks/\(prepared.network.id.rawValue)").text) ?? ""
            return page.contains("Needs CAP_NET_ADMIN") && page.contains("nftables")
        }
        #expect(page.contains("Needs CAP_NET_ADMIN"), "the page names the missing capability")
        #expect(page.contains("host&#39;s interface \(prepared.hostInterface)") || page.contains("host's interface \(prepared.hostInterface)"))
        #expect(page.contains("to install its nftables table for NAT"))
    }
}
