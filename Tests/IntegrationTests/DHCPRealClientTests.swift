import DHCP
import Domain
import Foundation
import Packets
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Issue 12 through the real data path: leases kept across off and on, the ARP probe against
/// a static host, clones with one DUID (dhcpcd), dhclient's INIT-REBOOT from its lease file, and
/// ports that may only speak for their own NIC.
@Suite("DHCP with dhcpcd, dhclient and hostile ports", .serialized, .enabled(if: rootTestsRun, Comment(rawValue: needsRoot)))
struct DHCPRealClientTests {
    func enable(_ vnetd: VnetdUnderTest, _ network: NetworkID, end: UInt32? = nil) throws -> DHCPSettings {
        var draft = DHCPDraft(try vnetd.services.dhcp.settings(of: network))
        draft.isEnabled = true
        if let end, let start = IPv4Address(parsing: draft.rangeStart) { draft.rangeEnd = IPv4Address(value: start.value + end).description }
        let settings = try vnetd.services.dhcp.update(network, version: try vnetd.services.dhcp.settings(of: network).version, draft)
        vnetd.settle()
        return settings
    }

    func turn(_ vnetd: VnetdUnderTest, _ network: NetworkID, on: Bool) throws {
        var draft = DHCPDraft(try vnetd.services.dhcp.settings(of: network))
        draft.isEnabled = on
        try vnetd.services.dhcp.update(network, version: try vnetd.services.dhcp.settings(of: network).version, draft)
        vnetd.settle()
    }

    /// A TAP VM moved into a namespace of its own, link up.
    func namespacedVM(_ vnetd: VnetdUnderTest, _ name: String, on network: NetworkID) throws -> (VirtualMachine, String, Namespace) {
        let (vm, tap) = try vnetd.tapVM(name, on: network)
        let namespace = try Namespace(name)
        try run(["ip", "link", "set", tap, "netns", namespace.name])
        try run(["ip", "-n", namespace.name, "link", "set", tap, "up"])
        return (vm, tap, namespace)
    }

    @Test func leasesSurviveTurningTheServerOffAndOn() throws {
        _ = try #require(busybox, "busybox is missing: `make test` installs it")
        let vnetd = try VnetdUnderTest()
        let lab = try vnetd.services.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        _ = try enable(vnetd, lab.id)
        let script = try udhcpcScript(in: vnetd.folder.path)
        let (_, tapA, a) = try namespacedVM(vnetd, "dsa", on: lab.id)
        let addressA = try #require(try a.leaseAddress(tapA, script: script))

        try turn(vnetd, lab.id, on: false)
        try turn(vnetd, lab.id, on: true)
        // The server starts from the stored lease (checked directly: the probe alone would also
        // keep a new VM off the address, since the first VM answers ARP for it).
        #expect(eventually { vnetd.services.status.status(of: lab.id).dhcp?.addressesInUse == 1 }, "the stored lease is known again")
        // A new VM must not get the address the first one still holds.
        let (_, tapB, b) = try namespacedVM(vnetd, "dsb", on: lab.id)
        let addressB = try #require(try b.leaseAddress(tapB, script: script))
        #expect(addressB != addressA)
        // The running VM renews (udhcpc asks for its address again) and keeps it.
        let again = try a.leaseAddress(tapA, script: script, extra: ["-r", addressA])
        #expect(again == addressA)
        vnetd.settle()
        #expect(vnetd.services.status.status(of: lab.id).dhcp?.naks == 0)
    }

    @Test func aStaticHostOnAnAddressOfTheRangeIsProbedAndSkipped() throws {
        _ = try #require(busybox, "busybox is missing: `make test` installs it")
        let vnetd = try VnetdUnderTest()
        let lab = try vnetd.services.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        let settings = try enable(vnetd, lab.id)
        // udhcpc does no conflict detection of its own: without the probe it takes .16.
        let (_, staticTap, host) = try namespacedVM(vnetd, "dst", on: lab.id)
        try run(["ip", "-n", host.name, "addr", "add", "\(settings.rangeStart)/\(settings.prefixLength)", "dev", staticTap])
        let script = try udhcpcScript(in: vnetd.folder.path)
        let (_, tap, client) = try namespacedVM(vnetd, "dsc", on: lab.id)
        let address = try #require(try client.leaseAddress(tap, script: script))
        #expect(address != settings.rangeStart.description)
        #expect(try client.canPing(settings.rangeStart.description), "both hosts work side by side")
        vnetd.settle()
        #expect(eventually { vnetd.services.status.status(of: lab.id).dhcp?.conflicts == 1 },
                "\(String(describing: vnetd.services.status.status(of: lab.id).dhcp))")
    }

    @Test func dhcpcdClonesSendingOneDUIDFromTwoNICsGetTwoAddresses() throws {
        let dhcpcd = try #require(["/usr/sbin/dhcpcd", "/sbin/dhcpcd"].first { FileManager.default.isExecutableFile(atPath: $0) },
                                  "dhcpcd is missing: `make test` installs dhcpcd-base")
        let vnetd = try VnetdUnderTest()
        let lab = try vnetd.services.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        _ = try enable(vnetd, lab.id)
        // An RFC 4361 client identifier: IAID 1 and one DUID-LL, as two clones of one image send.
        let clientID = "ff:00:00:00:01:00:03:00:01:52:54:00:aa:bb:cc"
        var addresses: [String] = []
        for name in ["dca", "dcb"] {
            let (_, tap, namespace) = try namespacedVM(vnetd, name, on: lab.id)
            let configuration = vnetd.folder.path + "/dhcpcd-\(name).conf"
            try "ipv4only\nnoipv4ll\nnohook resolv.conf, timesyncd, ntp.conf, hostname\n".write(toFile: configuration, atomically: true, encoding: .utf8)
            let result = try run(["ip", "netns", "exec", namespace.name, dhcpcd, "-f", configuration, "-1", "-4", "-t", "15", "-I", clientID,
                                  "--nobackground", "-q", tap], check: false)
            let (_, shown) = try run(["ip", "-n", namespace.name, "-4", "-o", "addr", "show", "dev", tap])
            let address = try #require(shown.firstMatch(of: /inet (\d+\.\d+\.\d+\.\d+)/).map { String($0.1) },
                                       "dhcpcd configured no address (exit \(result.status)): \(result.output)")
            addresses.append(address)
            _ = try? run(["ip", "netns", "exec", namespace.name, dhcpcd, "-f", configuration, "-x", tap], check: false)
        }
        #expect(addresses.count == 2 && addresses[0] != addresses[1])
        #expect(try vnetd.services.store.read { try $0.leases(of: lab.id) }.count == 2)
    }

    @Test func dhclientsInitRebootFromItsLeaseFileKeepsItsAddressAcrossARestart() throws {
        let dhclient = try #require(["/usr/sbin/dhclient", "/sbin/dhclient"].first { FileManager.default.isExecutableFile(atPath: $0) },
                                    "dhclient is missing: `make test` installs isc-dhcp-client")
        let vnetd = try VnetdUnderTest()
        let lab = try vnetd.services.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        _ = try enable(vnetd, lab.id)
        let (_, tap, namespace) = try namespacedVM(vnetd, "dcl", on: lab.id)
        // Our own hook: dhclient-script would rewrite the machine's resolv.conf.
        let folder = vnetd.folder.path
        let script = folder + "/dhclient.sh"
        try """
        #!/bin/sh
        case "$reason" in
          BOUND|RENEW|REBIND|REBOOT) ip addr flush dev "$interface"; ip addr add "$new_ip_address/$new_subnet_mask" dev "$interface" ;;
          EXPIRE|FAIL|RELEASE|STOP) ip addr flush dev "$interface" ;;
        esac
        echo "$reason $new_ip_address" >> "\(folder)/dhclient.log"
        """.write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        /// Runs dhclient until it is bound (it then goes to the background), and stops it. Its output
        /// goes to a file, not to our pipe: a daemon holding the pipe would keep `run` waiting; and
        /// `timeout` bounds a client that never gets an answer.
        func runClient() throws {
            let pidFile = folder + "/dhclient.pid"
            try? FileManager.default.removeItem(atPath: pidFile)
            let command = "timeout 60 \(dhclient) -4 -1 -v -sf \(script) -lf \(folder)/dhclient.leases -pf \(pidFile) \(tap)"
                + " >>\(folder)/dhclient.out 2>&1 </dev/null"
            _ = try run(["ip", "netns", "exec", namespace.name, "sh", "-c", command], check: false)
            let daemon = { (try? String(contentsOfFile: pidFile, encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) } }
            if let pid = daemon() {
                kill(pid, SIGTERM)
                #expect(eventually(5) { kill(pid, 0) != 0 }, "dhclient \(pid) stopped")
            }
        }
        try runClient()
        let log = { (try? String(contentsOfFile: folder + "/dhclient.log", encoding: .utf8)) ?? "" }
        let bound = try #require(log().firstMatch(of: /BOUND (\S+)/).map { String($0.1) }, "dhclient got no lease: \(log())")

        try vnetd.restart()
        #expect(eventually { (try? run(["ip", "link", "show", tap], check: false).status) == 0 })
        try run(["ip", "link", "set", tap, "netns", namespace.name])
        try run(["ip", "-n", namespace.name, "link", "set", tap, "up"])
        try run(["ip", "-n", namespace.name, "addr", "flush", "dev", tap])
        try runClient()
        // INIT-REBOOT (dhclient's REBOOT reason): the remembered address is confirmed.
        #expect(log().contains("REBOOT \(bound)"), "dhclient's log: \(log())")
        vnetd.settle()
        #expect(eventually { vnetd.services.status.status(of: lab.id).dhcp.map { $0.discovers == 0 && $0.acks == 1 } == true },
                "one REQUEST, no DISCOVER after the restart: \(String(describing: vnetd.services.status.status(of: lab.id).dhcp))")
    }

    @Test func aPortMaySpeakOnlyForItsOwnNIC() throws {
        let vnetd = try VnetdUnderTest()
        let lab = try vnetd.services.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        _ = try enable(vnetd, lab.id)
        let victim = try vnetd.nic(of: try vnetd.services.vms.create(name: "victim", notes: "", connectingTo: lab.id))
        let rogue = try vnetd.nic(of: try vnetd.services.vms.create(name: "rogue", notes: "", connectingTo: lab.id))
        vnetd.settle()
        let victimPeer = try StreamPeer(path: try #require(vnetd.services.status.status(of: victim.id).endpoint))
        let roguePeer = try StreamPeer(path: try #require(vnetd.services.status.status(of: rogue.id).endpoint))
        let (_, address) = try #require(try CrashTests.takeLease(through: victimPeer, as: victim.mac))

        // From its own MAC, the rogue releases the victim's lease and asks for leases for
        // invented hardware addresses: none of it is taken.
        var release = DHCPMessage()
        release.op = 1
        release.transactionID = 99
        release.clientHardwareAddress = victim.mac
        release.clientAddress = address
        release.set(.messageType, [DHCPMessageType.release.rawValue])
        try roguePeer.send(CrashTests.frame(release, from: rogue.mac))
        for index in 0..<20 {
            var discover = DHCPMessage()
            discover.op = 1
            discover.transactionID = UInt32(1_000 + index)
            discover.clientHardwareAddress = MACAddress(value: 0x0003FF_7700_00 | UInt64(index))
            discover.set(.messageType, [DHCPMessageType.discover.rawValue])
            try roguePeer.send(CrashTests.frame(discover, from: rogue.mac))
        }
        vnetd.settle()
        #expect(eventually { vnetd.services.status.status(of: lab.id).dhcp?.foreignHardware == 21 })
        let stored = try vnetd.services.store.read { try $0.leases(of: lab.id) }
        #expect(stored.count == 1 && stored.first.map { $0.mac == victim.mac && $0.expires > Date() } == true)
        // Its own requests still work.
        #expect(try CrashTests.takeLease(through: roguePeer, as: rogue.mac) != nil)
    }

    /// Network boot end to end: QEMU's iPXE ROM (user class "iPXE") is given the iPXE script URL,
    /// not the BIOS file, and fetches it from the HTTP server a namespace VM runs.
    @Test func anIPXEVMFetchesTheScriptURLItWasGiven() throws {
        let qemu = try #require(qemuPath, "qemu-system-x86_64 is missing: `make test` installs qemu-system-x86 and ipxe-qemu")
        let box = try #require(busybox, "busybox is missing: `make test` installs it")
        let vnetd = try VnetdUnderTest()
        let lab = try vnetd.services.networks.create(NetworkDraft(name: "Boot", adapter: nil, notes: ""))
        let settings = try enable(vnetd, lab.id)
        let web = IPv4Address(value: settings.network.value + 10)
        var draft = DHCPDraft(try vnetd.services.dhcp.settings(of: lab.id))
        draft.nextServer = web.description
        draft.biosBootFile = "undionly.kpxe"
        draft.ipxeBootFile = "http://\(web)/boot.ipxe"
        try vnetd.services.dhcp.update(lab.id, version: try vnetd.services.dhcp.settings(of: lab.id).version, draft)
        vnetd.settle()

        let (_, tap, server) = try namespacedVM(vnetd, "dbw", on: lab.id)
        try run(["ip", "-n", server.name, "addr", "add", "\(web)/\(settings.prefixLength)", "dev", tap])
        let root = vnetd.folder.path + "/www"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try "#!ipxe\necho chained\n".write(toFile: root + "/boot.ipxe", atomically: true, encoding: .utf8)
        let requests = vnetd.folder.path + "/httpd.log"
        try run(["sh", "-c", "ip netns exec \(server.name) \(box) httpd -f -vv -p 80 -h \(root) >\(requests) 2>&1 & echo $! > \(vnetd.folder.path)/httpd.pid"])
        defer {
            if let pid = (try? String(contentsOfFile: vnetd.folder.path + "/httpd.pid", encoding: .utf8)).flatMap({ Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) {
                kill(pid, SIGKILL)
            }
        }

        let vm = try vnetd.services.vms.create(name: "pxe", notes: "", connectingTo: lab.id)
        let nic = try vnetd.nic(of: vm)
        vnetd.settle()
        let qemuVM = try DisklessVM(qemu: qemu, socket: try #require(vnetd.services.status.status(of: nic.id).endpoint), mac: nic.mac)
        defer { qemuVM.stop() }
        #expect(eventually(60) { ((try? String(contentsOfFile: requests, encoding: .utf8)) ?? "").contains("/boot.ipxe") },
                "iPXE fetched its script; httpd saw: \((try? String(contentsOfFile: requests, encoding: .utf8)) ?? "")")
    }

    /// Issue 14's DNS on a guest-only network with DHCP on: the server hands itself out as the
    /// DNS server with the network's domain, and answers the VMs' names and their reverse.
    @Test func vmsOnAGuestOnlyNetworkFindEachOtherByName() throws {
        let box = try #require(busybox, "busybox is missing: `make test` installs it")
        let vnetd = try VnetdUnderTest()
        let lab = try vnetd.services.networks.create(NetworkDraft(name: "Name Lab", adapter: nil, notes: ""))
        let settings = try enable(vnetd, lab.id)
        let folder = vnetd.folder.path
        let script = folder + "/udhcpc-dns.sh"
        try """
        #!/bin/sh
        case "$1" in
          bound|renew) ip addr flush dev "$interface"; ip addr add "$ip/$subnet" dev "$interface"; echo "$dns|$domain" > "\(folder)/dns-$interface" ;;
        esac
        """.write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        let (_, tapA, alpha) = try namespacedVM(vnetd, "alpha", on: lab.id)
        let (_, tapB, beta) = try namespacedVM(vnetd, "beta", on: lab.id)
        _ = try #require(try alpha.leaseAddress(tapA, script: script))
        let addressB = try #require(try beta.leaseAddress(tapB, script: script))
        let handedOut = try String(contentsOfFile: folder + "/dns-\(tapA)", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(handedOut == "\(settings.server)|name-lab.vnetd.internal", "DHCP hands out its own DNS server and the network's domain")

        // The VM's name, whatever case it is asked in, and its address back to its name.
        let forward = try run(["ip", "netns", "exec", alpha.name, box, "nslookup", "BETA.name-lab.vnetd.internal", settings.server.description], check: false)
        #expect(forward.output.contains(addressB), "nslookup: \(forward.output)")
        let reverse = try run(["ip", "netns", "exec", alpha.name, box, "nslookup", addressB, settings.server.description], check: false)
        #expect(reverse.output.lowercased().contains("beta.name-lab.vnetd.internal"), "nslookup: \(reverse.output)")
        // A name that is not there, and a name outside the zone, get no address.
        let missing = try run(["ip", "netns", "exec", alpha.name, box, "nslookup", "gamma.name-lab.vnetd.internal", settings.server.description], check: false)
        #expect(missing.status != 0 || missing.output.contains("NXDOMAIN"), "nslookup: \(missing.output)")
    }

    /// Issue 17 gap 4: a Windows-style client (client id type 1, option 81 only, the broadcast
    /// flag, option 57 of 65,535) through the real data path, on a network whose options make a
    /// long reply: the OFFER is broadcast, fits the link's 1,500 bytes, and the lease takes the
    /// FQDN's host name.
    @Test func aWindowsStyleClientAskingForHugeRepliesGetsOnesThatFitTheLink() throws {
        let vnetd = try VnetdUnderTest()
        let lab = try vnetd.services.networks.create(NetworkDraft(name: "Win", adapter: nil, notes: ""))
        let settings = try enable(vnetd, lab.id)
        var draft = DHCPDraft(try vnetd.services.dhcp.settings(of: lab.id))
        draft.searchDomains = (1...5).map { "b\($0).department-of-rather-long-names.example" }.joined(separator: ", ")
        draft.domainName = "department-of-rather-long-names.example"
        let router = IPv4Address(value: settings.network.value + 254)
        draft.classlessRoutes = (1...16).map { "10.\($0).0.0/16 via \(router)" }.joined(separator: ", ")
        try vnetd.services.dhcp.update(lab.id, version: try vnetd.services.dhcp.settings(of: lab.id).version, draft)
        let nic = try vnetd.nic(of: try vnetd.services.vms.create(name: "win", notes: "", connectingTo: lab.id))
        vnetd.settle()
        let peer = try StreamPeer(path: try #require(vnetd.services.status.status(of: nic.id).endpoint))
        for maximum in [1_500, 65_535] {
            let xid = UInt32.random(in: 1...UInt32.max)
            var discover = DHCPMessage()
            discover.op = 1
            discover.transactionID = xid
            discover.flags = 0x8000
            discover.clientHardwareAddress = nic.mac
            discover.set(.messageType, [DHCPMessageType.discover.rawValue])
            discover.set(.clientIdentifier, [1] + nic.mac.octets)
            discover.set(.maximumMessageSize, [UInt8(maximum >> 8), UInt8(maximum & 0xFF)])
            discover.set(.clientFQDN, [0x00, 0, 0] + Array("DESKTOP-7Q2.corp.example".utf8))
            discover.set(.vendorClass, Array("MSFT 5.0".utf8))
            discover.set(.parameterRequestList, [1, 3, 6, 15, 31, 33, 43, 44, 46, 47, 119, 121, 249, 252])
            var offerFrame: [UInt8] = []
            #expect(try peer.exchange(CrashTests.frame(discover, from: nic.mac)) { frame in
                guard CrashTests.reply(to: xid, in: frame, type: .offer) != nil else { return false }
                offerFrame = frame
                return true
            }, "an OFFER for option 57 = \(maximum)")
            #expect(offerFrame.count > 576 + 14 && offerFrame.count <= 1_514, "the OFFER frame is \(offerFrame.count) bytes: over 576 (option 57 used), within the link")
            #expect(Array(offerFrame.prefix(6)) == [UInt8](repeating: 0xFF, count: 6), "broadcast, as the flag asks")
            let offer = try #require(CrashTests.reply(to: xid, in: offerFrame, type: .offer))
            #expect(offer.option(.domainSearch) != nil && offer.option(.classlessStaticRoute)?.count == 16 * 7, "the long options arrive whole")
            if maximum == 65_535 {
                var request = discover
                request.set(.messageType, [DHCPMessageType.request.rawValue])
                request.set(.requestedAddress, offer.yourAddress.octets)
                request.set(.serverIdentifier, try #require(offer.option(.serverIdentifier)))
                #expect(try peer.exchange(CrashTests.frame(request, from: nic.mac)) { CrashTests.reply(to: xid, in: $0, type: .ack) != nil })
                let lease = try vnetd.services.store.read { try $0.leases(of: lab.id) }.first
                #expect(lease?.hostName == "DESKTOP-7Q2", "the name from option 81")
                #expect(lease?.clientID == [1] + nic.mac.octets)
            }
        }
    }

    /// Issue 12 item 13: an address a client declined stays set aside across a restart.
    @Test func aDeclinedAddressStaysSetAsideAcrossARestart() throws {
        let vnetd = try VnetdUnderTest()
        let lab = try vnetd.services.networks.create(NetworkDraft(name: "Hold", adapter: nil, notes: ""))
        _ = try enable(vnetd, lab.id)
        let nic = try vnetd.nic(of: try vnetd.services.vms.create(name: "decliner", notes: "", connectingTo: lab.id))
        vnetd.settle()
        let path = try #require(vnetd.services.status.status(of: nic.id).endpoint)
        let (_, address) = try #require(try CrashTests.takeLease(through: try StreamPeer(path: path), as: nic.mac))
        var decline = DHCPMessage()
        decline.op = 1
        decline.transactionID = 4242
        decline.clientHardwareAddress = nic.mac
        decline.set(.messageType, [DHCPMessageType.decline.rawValue])
        decline.set(.requestedAddress, address.octets)
        try StreamPeer(path: path).send(CrashTests.frame(decline, from: nic.mac))
        vnetd.settle()
        #expect(eventually { vnetd.services.status.status(of: lab.id).dhcp?.declines == 1 })
        try vnetd.restart()
        vnetd.settle()
        let pathAfter = try #require(vnetd.services.status.status(of: nic.id).endpoint)
        let (_, again) = try #require(try CrashTests.takeLease(through: try StreamPeer(path: pathAfter), as: nic.mac))
        #expect(again != address, "the declined \(address) is not handed out again for 10 minutes, restart or not")
    }
}
