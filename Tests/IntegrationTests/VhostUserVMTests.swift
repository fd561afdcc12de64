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

/// Real QEMU VMs on vhost-user ports: QEMU 7.2's vhost-user net client with the iPXE virtio-net
/// ROM, software emulation (TCG), the guest's RAM in a shared memfd, MSI-X off (platform notes).
@Suite("QEMU VMs on vhost-user ports", .serialized, .enabled(if: rootTestsRun, Comment(rawValue: needsRoot)))
struct VhostUserVMTests {
    /// QEMU with no disk on a vhost-user socket (reconnect=1); it boots iPXE from the virtio NIC.
    /// Bounded: `timeout` kills it after 5 minutes whatever the test does; `stop` kills it by PID.
    final class VhostUserVM {
        private let process = Process()
        private let pidFile: String
        private var stopped = false

        init(qemu: String, socket: String, mac: MACAddress, folder: String) throws {
            pidFile = folder + "/qemu-\(UInt32.random(in: 0...UInt32.max)).pid"
            process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
            process.arguments = [
                "-s", "KILL", "300", qemu,
                "-nodefaults", "-display", "none", "-serial", "null", "-monitor", "none", "-accel", "tcg", "-m", "96", "-boot", "n",
                "-pidfile", pidFile,
                "-object", "memory-backend-memfd,id=mem,size=96M,share=on", "-machine", "pc,memory-backend=mem",
                "-chardev", "socket,id=c1,path=\(socket),reconnect=1",
                "-netdev", "vhost-user,id=n1,chardev=c1",
                "-device", "virtio-net-pci,netdev=n1,mac=\(mac),vectors=0",
            ]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
        }

        /// Kills QEMU by the PID it wrote, then its `timeout`; once.
        func stop() {
            guard !stopped else { return }
            stopped = true
            if let text = try? String(contentsOfFile: pidFile, encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                kill(pid, SIGKILL)
            }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            unlink(pidFile)
        }

        deinit { stop() }
    }

    /// The whole story of a VM on vhost-user: it gets its address from the network's DHCP
    /// server, fetches its iPXE script over HTTP from a namespace VM (TCP both ways) and answers
    /// that VM's ping; after QEMU is killed and started again, and after vnetd restarts (QEMU
    /// reconnects by itself), it is back on the network each time.
    @Test func aQEMUVMOnVhostUserGetsALeaseTalksAndSurvivesRestartsOfEitherSide() throws {
        let qemu = try #require(qemuPath, "qemu-system-x86_64 is missing: `make test` installs qemu-system-x86 and ipxe-qemu")
        let box = try #require(busybox, "busybox is missing: `make test` installs it")
        let vnetd = try VnetdUnderTest()
        let lab = try vnetd.services.networks.create(NetworkDraft(name: "Fast", adapter: nil, notes: ""))
        var draft = DHCPDraft(try vnetd.services.dhcp.settings(of: lab.id))
        draft.isEnabled = true
        var settings = try vnetd.services.dhcp.update(lab.id, version: try vnetd.services.dhcp.settings(of: lab.id).version, draft)
        let web = IPv4Address(value: settings.network.value + 10)
        draft = DHCPDraft(settings)
        draft.nextServer = web.description
        draft.biosBootFile = "undionly.kpxe"
        draft.ipxeBootFile = "http://\(web)/boot.ipxe"
        settings = try vnetd.services.dhcp.update(lab.id, version: settings.version, draft)
        vnetd.settle()

        // The namespace VM: a TAP port, the web server iPXE fetches its script from.
        let (_, tap) = try vnetd.tapVM("vhw", on: lab.id)
        let server = try Namespace("vhw")
        try server.adopt(tap, address: "\(web)/\(settings.prefixLength)")
        let root = vnetd.folder.path + "/www"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        // iPXE keeps its NIC open while the script sleeps, and answers ARP and ping meanwhile.
        try "#!ipxe\necho up\nsleep 280\n".write(toFile: root + "/boot.ipxe", atomically: true, encoding: .utf8)
        let requests = vnetd.folder.path + "/httpd.log"
        let httpdPID = vnetd.folder.path + "/httpd.pid"
        try run(["sh", "-c", "ip netns exec \(server.name) timeout -s KILL 600 \(box) httpd -f -vv -p 80 -h \(root) >\(requests) 2>&1 & echo $! > \(httpdPID)"])
        defer {
            // The PID is timeout's: TERM, which it passes on to httpd (KILL would orphan httpd).
            if let pid = (try? String(contentsOfFile: httpdPID, encoding: .utf8)).flatMap({ Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) {
                kill(pid, SIGTERM)
            }
        }

        let vm = try vnetd.services.vms.create(name: "fast", notes: "", connectingTo: lab.id)
        let nic = try vnetd.nic(of: vm)
        try vnetd.services.vms.configureNICs(of: vm.id, version: try #require(try vnetd.services.store.read { try $0.vm(vm.id) }).version, [
            NICSetting(nicID: nic.id, networkID: lab.id, assignment: .dynamic, backend: .vhostUser),
        ])
        vnetd.settle()
        let socket = try #require(vnetd.services.status.status(of: nic.id).endpoint)
        #expect(socket.hasSuffix(".vhost"))

        func fetches() -> Int {
            ((try? String(contentsOfFile: requests, encoding: .utf8)) ?? "").components(separatedBy: "/boot.ipxe").count - 1
        }
        func leased() -> IPv4Address? {
            let leases = (try? vnetd.services.store.read { try $0.leases(of: nic.mac) }) ?? []
            return leases.first { $0.network == lab.id && $0.expires > Date() && $0.address >= settings.rangeStart }?.address
        }
        /// The VM is on the network: it fetched its script (once more than `before`) and answers ping.
        func isBack(after before: Int, _ step: String) throws {
            #expect(eventually(90) { fetches() > before }, "\(step): the VM fetched its iPXE script over HTTP; httpd saw \(fetches())")
            let address = try #require(leased(), "\(step): the VM holds a lease")
            #expect(try eventually(30) { try server.canPing(address.description, count: 2) }, "\(step): the VM at \(address) answers ping")
        }

        var vmProcess = try VhostUserVM(qemu: qemu, socket: socket, mac: nic.mac, folder: vnetd.folder.path)
        defer { vmProcess.stop() }
        #expect(eventually(20) { vnetd.services.status.status(of: nic.id).isAttached }, "QEMU connected to the vhost-user socket")
        try isBack(after: 0, "first boot")

        // A QEMU stream-socket peer on the same network talks to the vhost-user VM: an ARP request
        // for the VM's address gets the VM's answer through the switch.
        let streamVM = try vnetd.services.vms.create(name: "stream", notes: "", connectingTo: lab.id)
        let streamNIC = try vnetd.nic(of: streamVM)
        vnetd.settle()
        let streamPath = try #require(vnetd.services.status.status(of: streamNIC.id).endpoint)
        let peer = try StreamPeer(path: streamPath)
        defer { peer.close() }
        let vmAddress = try #require(leased())
        let request = ARPPacket.frame(
            operation: .request, senderMAC: streamNIC.mac, senderIP: IPv4Address(value: settings.network.value + 11),
            targetMAC: .zero, targetIP: vmAddress, destination: .broadcast)
        let answered = try peer.exchange(request) { frame in
            frame.withUnsafeBytes { bytes in
                guard let ethernet = EthernetFrame(bytes), ethernet.etherType == .arp, let arp = ARPPacket(ethernet.payload) else { return false }
                return arp.operation == .reply && arp.senderIP == vmAddress && arp.senderMAC == nic.mac && arp.targetMAC == streamNIC.mac
            }
        }
        #expect(answered, "the vhost-user VM answers a stream-socket peer's ARP request")
        peer.close()

        // QEMU killed and started again: it connects again and boots again.
        vmProcess.stop()
        #expect(eventually(10) { !vnetd.services.status.status(of: nic.id).isAttached }, "vnetd saw QEMU go")
        let beforeRestart = fetches()
        vmProcess = try VhostUserVM(qemu: qemu, socket: socket, mac: nic.mac, folder: vnetd.folder.path)
        try isBack(after: beforeRestart, "after QEMU restarted")

        // vnetd restarted under the running VM: QEMU reconnects (reconnect=1) and the VM, still in
        // its script's sleep, answers again without booting again. The namespace VM's TAP went
        // with the old vnetd; the new one is moved into the namespace again.
        try vnetd.restart()
        vnetd.settle()
        #expect(eventually(30) { vnetd.services.status.status(of: nic.id).isAttached }, "QEMU reconnected to the restarted vnetd")
        try server.adopt(tap, address: "\(web)/\(settings.prefixLength)")
        let address = try #require(leased())
        #expect(try eventually(30) { try server.canPing(address.description, count: 2) }, "after vnetd restarted: the VM at \(address) answers ping")
    }
}
