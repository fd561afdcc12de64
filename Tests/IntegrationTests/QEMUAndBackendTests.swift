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

let qemuPath = ["/usr/bin/qemu-system-x86_64", "/usr/local/bin/qemu-system-x86_64"].first { FileManager.default.isExecutableFile(atPath: $0) }

@Suite("Real QEMU VMs and the other backends", .serialized, .enabled(if: rootTestsRun, Comment(rawValue: needsRoot)))
struct QEMUAndBackendTests {
    /// A QEMU VM with no disk boots iPXE from its virtio NIC, which sends DHCP DISCOVERs: real
    /// frames from a real VM's network card, through vnetd's stream socket.
    @Test func aQEMUVMAttachesThroughItsStreamSocketAndReconnectsAfterARestart() throws {
        let qemu = try #require(qemuPath, "qemu-system-x86_64 is missing: `make test` installs qemu-system-x86 and ipxe-qemu")
        let vnetd = try VnetdUnderTest()
        let lab = try vnetd.services.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        let vm = try vnetd.services.vms.create(name: "qemu", notes: "", connectingTo: lab.id)
        let nic = try vnetd.nic(of: vm)
        vnetd.settle()
        let path = try #require(vnetd.services.status.status(of: nic.id).endpoint)
        // Each boot must bring frames of its own: the MAC is pinned to the port and counters are
        // cumulative, so neither says anything about the second boot by itself.
        var framesBefore: UInt64 = 0
        for boot in 1...2 {
            let qemuVM = try DisklessVM(qemu: qemu, socket: path, mac: nic.mac)
            defer { qemuVM.stop() }
            #expect(eventually(10) { vnetd.services.status.status(of: nic.id).isAttached }, "boot \(boot): QEMU connected")
            #expect(eventually(40) {
                vnetd.settle()
                return vnetd.services.status.status(of: nic.id).counters.rxFrames > framesBefore
            }, "boot \(boot): frames from the VM's DHCP DISCOVER reach the switch")
            framesBefore = vnetd.services.status.status(of: nic.id).counters.rxFrames
            qemuVM.stop()
            #expect(eventually(5) {
                vnetd.settle()
                return !vnetd.services.status.status(of: nic.id).isAttached
            }, "boot \(boot): vnetd notices the VM is gone")
        }
    }

    /// iPXE is a stock DHCP client: with the network's DHCP server on, the VM gets a lease.
    @Test func aQEMUVMGetsAnAddressFromTheNetworksDHCPServer() throws {
        let qemu = try #require(qemuPath, "qemu-system-x86_64 is missing: `make test` installs qemu-system-x86 and ipxe-qemu")
        let vnetd = try VnetdUnderTest()
        let lab = try vnetd.services.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        var draft = DHCPDraft(try vnetd.services.dhcp.settings(of: lab.id))
        draft.isEnabled = true
        let settings = try vnetd.services.dhcp.update(lab.id, version: 0, draft)
        let vm = try vnetd.services.vms.create(name: "qemu", notes: "", connectingTo: lab.id)
        let nic = try vnetd.nic(of: vm)
        vnetd.settle()
        let path = try #require(vnetd.services.status.status(of: nic.id).endpoint)
        let qemuVM = try DisklessVM(qemu: qemu, socket: path, mac: nic.mac)
        defer { qemuVM.stop() }
        #expect(eventually(45) {
            let leases = (try? vnetd.services.store.read { try $0.leases(of: nic.mac) }) ?? []
            return leases.contains { settings.contains($0.address) && $0.address >= settings.rangeStart }
        }, "the VM's iPXE got a lease from the network's DHCP server")
    }

    @Test func aDatagramPeerExchangesARPWithANamespaceVM() throws {
        let vnetd = try VnetdUnderTest()
        let lab = try vnetd.services.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        let vm = try vnetd.services.vms.create(name: "dgram", notes: "", connectingTo: lab.id)
        let nic = try vnetd.nic(of: vm)
        try vnetd.services.vms.configureNICs(of: vm.id, version: 1, [NICSetting(nicID: nic.id, networkID: lab.id, assignment: .dynamic, backend: .datagram)])
        let (_, tap) = try vnetd.tapVM("ns", on: lab.id)
        let namespace = try Namespace("dg")
        try namespace.adopt(tap, address: "10.96.0.2/24")
        vnetd.settle()
        let remote = try #require(vnetd.services.status.status(of: nic.id).endpoint)
        #expect(remote.hasSuffix(".dgram"))
        let peer = try DatagramPeer(localPath: vnetd.folder.path + "/qemu-\(UInt16.random(in: 0...9999)).sock", remotePath: remote)
        let request = ARPPacket.frame(
            operation: .request, senderMAC: nic.mac, senderIP: IPv4Address(10, 96, 0, 1), targetMAC: .zero,
            targetIP: IPv4Address(10, 96, 0, 2), destination: .broadcast)
        let answered = try peer.exchange(request) { frame in
            frame.withUnsafeBytes { bytes in
                EthernetFrame(bytes).flatMap { ARPPacket($0.payload) }.map { $0.operation == .reply && $0.senderIP == IPv4Address(10, 96, 0, 2) } ?? false
            }
        }
        #expect(answered)
        vnetd.settle()
        #expect(vnetd.services.status.status(of: nic.id).isAttached)
    }

    @Test func anUplinkWhoseAdapterDisappearsDetachesAndComesBack() throws {
        let suffix = String(UInt32.random(in: 0...0xFFFF), radix: 16)
        let uplink = "vtu\(suffix)", lanSide = "vtl\(suffix)"
        let lan = try Namespace("lan2")
        func plugIn() throws {
            // The LAN host keeps its MAC across the re-plug, as a real one would.
            try run(["ip", "link", "add", uplink, "type", "veth", "peer", "name", lanSide, "address", "02:00:00:97:00:fe"])
            try run(["ip", "link", "set", uplink, "up"])
            try lan.adopt(lanSide, address: "10.97.0.254/24")
        }
        try plugIn()
        defer { _ = try? run(["ip", "link", "del", uplink], check: false) }
        let vnetd = try VnetdUnderTest()
        try vnetd.services.adapters.setBindings(bound: [uplink])
        let external = try vnetd.services.networks.create(NetworkDraft(name: "LAN", adapter: uplink, notes: ""))
        let (_, tap) = try vnetd.tapVM("web", on: external.id)
        let vm = try Namespace("web2")
        try vm.adopt(tap, address: "10.97.0.10/24")
        #expect(try vm.canPing("10.97.0.254"))

        try run(["ip", "link", "del", uplink])
        _ = try vm.reaches("10.97.0.254")  // traffic towards the gone adapter
        #expect(eventually(8) {
            vnetd.settle()
            let port = vnetd.services.status.status(of: external.id).ports.first { $0.kind == .uplink(adapter: uplink) }
            return port?.isAttached == false
        })
        #expect(try vnetd.services.adapters.adapters().isEmpty == false)

        try plugIn()
        #expect(eventually(12) {
            vnetd.settle()
            return vnetd.services.status.status(of: external.id).ports.first { $0.kind == .uplink(adapter: uplink) }?.isAttached == true
        }, "re-attached when the adapter came back")
        #expect(try vm.canPing("10.97.0.254"))
    }

    /// Without CAP_NET_ADMIN and CAP_NET_RAW vnetd still runs: sockets work, TAP and uplink
    /// ports say what they need.
    @Test func withoutPrivilegesSocketsWorkAndTAPsAndUplinksSayWhatTheyNeed() throws {
        let binary = try #require(
            vnetdExecutable,
            "the vnetd executable is built by `swift build`")
        let suffix = String(UInt32.random(in: 0...0xFFFF), radix: 16)
        let adapter = "vtn\(suffix)"
        try run(["ip", "link", "add", adapter, "type", "veth", "peer", "name", "vtp\(suffix)"])
        defer { _ = try? run(["ip", "link", "del", adapter], check: false) }
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        chmod(folder.path, 0o777)
        let data = folder.path + "/data"
        let unprivileged = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"]
        try run(unprivileged + [binary, "populate", "--data-dir", data, "--networks", "1", "--vms", "2", "--backend", "tap"])
        let port = unusedLoopbackPort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = unprivileged + [binary, "--listen", "127.0.0.1:\(port)", "--data-dir", data, "--log-level", "error",
                                            "--templates", repositoryRoot + "/Templates", "--public", repositoryRoot + "/Public"]
        try process.run()
        defer {
            process.terminate()
            process.waitUntilExit()
        }
        #expect(eventually(10) { (try? HTTPTestClient(port: port).get("/login").status) == 200 })
        let client = try SignedInClient(port: port, initialPasswordFile: data + "/initial-admin-password")
        let vms = try client.get("/vms").text
        let vmPath = try #require(vms.firstMatch(of: /\/vms\/[0-9a-f-]{36}/).map { String($0.output) })
        #expect(try client.get(vmPath).text.contains("Needs CAP_NET_ADMIN"))

        #expect(try client.post("/adapters", [("bind", adapter)]).status == 303)
        let created = try client.post("/networks", [("name", "LAN"), ("adapter", adapter)])
        let networkPath = try #require(created.header("Location"))
        #expect(eventually(5) { (try? client.get(networkPath).text.contains("Needs CAP_NET_RAW")) == true })

        // A QEMU socket adapter works without privileges: its socket exists and the page says how to attach.
        let vm = try client.post("/vms", [("name", "socket-vm")])
        let socketVM = try #require(vm.header("Location"))
        #expect(eventually(5) {
            guard let page = try? client.get(socketVM).text else { return false }
            return page.contains("-netdev stream,id=net1,server=off,addr.type=unix,addr.path=\(data)/run/") && !page.contains("Needs CAP")
        })
    }

    /// The sockets are for vnetd's group (a QEMU run as another user in it), and nobody else:
    /// a runtime folder outside the private data folder, 0750, sockets 0660.
    @Test func qemuSocketsAreReachableByVnetdsGroupOnly() throws {
        let binary = try #require(vnetdExecutable, "the vnetd executable is built by `swift build`")
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        chmod(folder.path, 0o755)
        let asVnetd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        let writable = folder.path + "/owned"
        try FileManager.default.createDirectory(atPath: writable, withIntermediateDirectories: true)
        chown(writable, 65534, 65534)
        try run(asVnetd + [binary, "populate", "--data-dir", writable + "/data", "--networks", "1", "--vms", "1"])
        let port = unusedLoopbackPort()
        let server = try spawn(asVnetd + [binary, "--listen", "127.0.0.1:\(port)", "--data-dir", writable + "/data", "--runtime-dir", writable + "/run",
                                         "--log-level", "error", "--templates", repositoryRoot + "/Templates", "--public", repositoryRoot + "/Public"],
                               logFile: folder.path + "/vnetd.log")
        defer { kill(server, SIGTERM); waitpid(server, nil, 0) }
        #expect(eventually(10) { (try? HTTPTestClient(port: port).get("/login").status) == 200 })
        let socket = try #require(try FileManager.default.contentsOfDirectory(atPath: writable + "/run").first { $0.hasSuffix(".sock") })
        let path = writable + "/run/" + socket
        // curl connects to the socket (then vnetd drops it for bad framing): exit 7 means it could not connect.
        func curlExit(_ identity: [String]) throws -> Int32 {
            try run(identity + ["curl", "-s", "-m", "3", "--unix-socket", path, "http://vm/"], check: false).status
        }
        let groupMember = try curlExit(["setpriv", "--reuid=12345", "--regid=65534", "--clear-groups"])
        let stranger = try curlExit(["setpriv", "--reuid=12346", "--regid=12346", "--clear-groups"])
        #expect(groupMember != 7, "a QEMU in vnetd's group connects (curl exit \(groupMember))")
        #expect(stranger == 7, "another user cannot (curl exit \(stranger))")
        let (_, listing) = try run(["stat", "-c", "%a", writable + "/run", path])
        #expect(listing.split(separator: "\n") == ["750", "660"])
    }
}

/// A QEMU VM with no disk on a vnetd stream socket: it boots iPXE from its virtio NIC, which
/// sends DHCP DISCOVERs at once.
final class DisklessVM {
    private let process = Process()

    init(qemu: String, socket: String, mac: MACAddress) throws {
        process.executableURL = URL(fileURLWithPath: qemu)
        process.arguments = [
            "-nodefaults", "-display", "none", "-serial", "null", "-monitor", "none", "-accel", "tcg", "-m", "96", "-boot", "n",
            "-netdev", "stream,id=n1,server=off,addr.type=unix,addr.path=\(socket)",
            "-device", "virtio-net-pci,netdev=n1,mac=\(mac)",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    private var stopped = false

    /// A disposable VM: QEMU 7.2 under TCG with iPXE running does not always act on SIGTERM here.
    /// Stops once; later calls do nothing (the pid may belong to another process by then).
    func stop() {
        guard !stopped else { return }
        stopped = true
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

/// Speaks QEMU's `-netdev dgram` over unix datagram sockets.
final class DatagramPeer {
    private let fd: Int32
    private let localPath: String
    private let remotePath: String

    init(localPath: String, remotePath: String) throws {
        self.localPath = localPath
        self.remotePath = remotePath
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        unlink(localPath)
        var address = Self.address(localPath)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else { throw CommandFailure(description: "bind \(localPath): \(errno)") }
        var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    static func address(_ path: String) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        // All of sun_path may be used: Linux takes a 108-byte name without a terminating NUL.
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.prefix(raw.count).enumerated() { raw[index] = byte }
        }
        return address
    }

    /// Sends one datagram to vnetd.
    func send(_ frame: [UInt8]) {
        var remote = Self.address(remotePath)
        _ = frame.withUnsafeBytes { bytes in
            withUnsafePointer(to: &remote) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, bytes.baseAddress, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
        }
    }

    /// Waits (`seconds` at most) for a datagram that satisfies `matches`.
    func receive(seconds: Double = 2, until matches: ([UInt8]) -> Bool) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 70_000)
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 && matches(Array(buffer[0..<count])) { return true }
        }
        return false
    }

    func exchange(_ frame: [UInt8], until matches: ([UInt8]) -> Bool) throws -> Bool {
        var remote = Self.address(remotePath)
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let deadline = Date().addingTimeInterval(5)
        var nextSend = Date.distantPast
        while Date() < deadline {
            if Date() >= nextSend {
                _ = frame.withUnsafeBytes { bytes in
                    withUnsafePointer(to: &remote) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                            sendto(fd, bytes.baseAddress, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                        }
                    }
                }
                nextSend = Date().addingTimeInterval(0.5)
            }
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 && matches(Array(buffer[0..<count])) { return true }
        }
        return false
    }

    deinit {
        close(fd)
        unlink(localPath)
    }
}
