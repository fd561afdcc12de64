import AdminSite
import Application
import Domain
import Foundation
import Packets
import Switching
import Synchronization
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

@Suite("Faults on the data path", .serialized, .enabled(if: rootTestsRun, Comment(rawValue: needsRoot)))
struct FaultTests {
    /// Two namespace VMs on TAP ports of one network, and a third VM on a QEMU socket that a test
    /// drives with `peer`, connected before the test starts.
    struct Bench {
        let vnetd: VnetdUnderTest
        let network: NetworkID
        let socketNIC: VirtualNIC
        let peer: StreamPeer
        let a: Namespace, b: Namespace

        init(subnet: String) throws {
            vnetd = try VnetdUnderTest()
            network = try vnetd.services.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: "")).id
            let (_, tapA) = try vnetd.tapVM("a", on: network)
            let (_, tapB) = try vnetd.tapVM("b", on: network)
            let socketVM = try vnetd.services.vms.create(name: "socket", notes: "", connectingTo: network)
            socketNIC = try vnetd.nic(of: socketVM)
            vnetd.settle()
            a = try Namespace("fa")
            b = try Namespace("fb")
            try a.adopt(tapA, address: "\(subnet).1/24")
            try b.adopt(tapB, address: "\(subnet).2/24")
            peer = try StreamPeer(path: try #require(vnetd.services.status.status(of: socketNIC.id).endpoint))
            let (vnetd, nic) = (vnetd, socketNIC)
            #expect(eventually { vnetd.services.status.status(of: nic.id).isAttached })
        }

        func status() -> NetworkRuntimeStatus {
            vnetd.settle()
            return vnetd.services.status.status(of: network)
        }

        func send(_ frames: some Sequence<[UInt8]>) throws { try peer.send(frames) }
    }

    @Test func tenThousandMalformedFramesAreCountedAndOtherPortsCarryOn() throws {
        let bench = try Bench(subnet: "10.98.0")
        // 10,000 frames, correctly framed but too short to be Ethernet (5 bytes) or with a
        // multicast source address, sent over and over while the other ports ping each other.
        let burst = (0..<10_000).map { index -> [UInt8] in
            index % 2 == 0
                ? [1, 2, 3, 4, 5]
                : EthernetBuilder.header(destination: .broadcast, source: MACAddress(value: 0x0100_5E00_0001), type: .ipv4) + [0, 0]
        }
        let namespace = bench.a.name
        let pinging = Mutex<(status: Int32, output: String)?>(nil)
        let pinger = Thread {
            let result = try? run(["ip", "netns", "exec", namespace, "ping", "-c", "20", "-i", "0.05", "-W", "1", "-q", "10.98.0.2"], check: false)
            pinging.withLock { $0 = result }
        }
        pinger.start()
        var bursts = 0
        while !pinger.isFinished {
            try bench.send(burst)
            bursts += 1
        }
        let during = try #require(pinging.withLock { $0 })
        #expect(during.status == 0, "every ping answered while malformed frames poured in: \(during.output)")
        #expect(eventually(5) {
            bench.vnetd.settle()
            let drops = bench.vnetd.services.status.status(of: bench.socketNIC.id).counters.drops
            let malformed = drops.first { $0.reason == DropReason.malformed.label }?.count ?? 0
            let badSource = drops.first { $0.reason == DropReason.badSource.label }?.count ?? 0
            return malformed == 5_000 * bursts && badSource == 5_000 * bursts
        }, "every malformed frame counted")
        #expect(try bench.a.canPing("10.98.0.2"))
        #expect(bench.vnetd.services.status.status(of: bench.socketNIC.id).isAttached, "framing was valid, so the peer stays connected")
        print("malformed bursts: \(bursts) × 10,000 frames on one port, all counted as drops, other ports pinged all the while, the sender stays attached")
    }

    /// Against a vnetd of its own, so its memory is measured alone (the test process hosts other
    /// tests' vnetds in parallel).
    @Test func aMACFloodKeepsTheTableAtItsCapAndMemoryFlat() throws {
        let vnetd = try #require(vnetdExecutable, "the vnetd executable is built by `swift build`")
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let data = folder.path + "/data"
        try run([vnetd, "populate", "--data-dir", data, "--networks", "1", "--vms", "2", "--allow-mac-spoofing"])
        let port = unusedLoopbackPort()
        let pid = try spawn([vnetd, "serve", "--listen", "127.0.0.1:\(port)", "--data-dir", data, "--log-level", "error",
                             "--templates", repositoryRoot + "/Templates", "--public", repositoryRoot + "/Public"],
                            logFile: folder.path + "/vnetd.log")
        defer {
            kill(pid, SIGTERM)
            waitpid(pid, nil, 0)
        }
        #expect(eventually(15) { (try? HTTPTestClient(port: port).get("/login").status) == 200 })
        let browser = try SignedInClient(port: port, initialPasswordFile: data + "/initial-admin-password")
        let networkPath = try #require(try browser.get("/networks").text.firstMatch(of: /\/networks\/[0-9a-f-]{36}/).map { String($0.output) })
        let sockets = try FileManager.default.contentsOfDirectory(atPath: data + "/run").filter { $0.hasSuffix(".sock") }.sorted()
        try #require(sockets.count == 2)
        let flooder = try StreamPeer(path: data + "/run/" + sockets[0])
        let bystander = try StreamPeer(path: data + "/run/" + sockets[1])
        func table() -> (addresses: Int, learned: Int, evicted: Int)? {
            guard let page = try? browser.get(networkPath).text,
                  let count = page.firstMatch(of: /Learned addresses \((\d+)\)/),
                  let counters = page.firstMatch(of: /Learned (\d+), moved \d+, aged out \d+, evicted at the table's limit (\d+)/)
            else { return nil }
            return (Int(count.1) ?? 0, Int(counters.1) ?? 0, Int(counters.2) ?? 0)
        }
        // Unicast to a station nobody has: every frame is flooded, every source learned.
        func flood(_ stations: Range<UInt64>) throws {
            try flooder.send(stations.lazy.map { station in
                EthernetBuilder.header(destination: MACAddress(value: 0x0200_DEAD_0001), source: MACAddress(value: 0x0200_0000_0000 + station), type: .ipv4)
                    + [UInt8](repeating: 0, count: 46)
            })
        }
        try flood(0..<20_000)
        #expect(eventually(15) { (table()?.learned ?? 0) >= 20_000 })
        let before = try residentKiB(of: pid)
        try flood(20_000..<100_000)
        #expect(eventually(20) { (table()?.learned ?? 0) >= 100_000 })
        let after = try residentKiB(of: pid)
        let final = try #require(table())
        #expect(final.addresses == 8_192, "the table stays at its cap")
        #expect(final.evicted >= 100_000 - 8_192)
        #expect(after - before < 4 * 1024, "vnetd's memory stays flat while 80,000 more stations arrive: \(before) → \(after) KiB")

        // The switch still forwards: a frame from the other port reaches the flooder.
        let marker = EthernetBuilder.header(destination: .broadcast, source: MACAddress(value: 0x0200_0000_B0B0), type: EtherType(rawValue: 0x88B5)) + Array("still forwarding".utf8) + [UInt8](repeating: 0, count: 30)
        var delivered = false
        for _ in 0..<10 where !delivered {
            try bystander.send(marker)
            delivered = try flooder.receive(until: { $0 == marker }, seconds: 0.5)
        }
        #expect(delivered, "other ports are unaffected")
        print("MAC flood: 100,000 source addresses into a vnetd of its own, table at \(final.addresses) (cap 8,192), \(final.evicted) evicted, resident memory \(before) → \(after) KiB over the last 80,000")
    }
}

extension FaultTests {
    /// A broadcast storm on one network, for a bounded time: another network's pings and the
    /// admin site keep working. The figures printed go to bench/RESULTS.md.
    @Test func aBroadcastStormOnOneNetworkLeavesOtherNetworksAndTheSiteWorking() throws {
        let bench = try Bench(subnet: "10.97.0")
        let quiet = try bench.vnetd.services.networks.create(NetworkDraft(name: "Quiet", adapter: nil, notes: "")).id
        let (_, tapC) = try bench.vnetd.tapVM("c", on: quiet)
        let (_, tapD) = try bench.vnetd.tapVM("d", on: quiet)
        let c = try Namespace("fc")
        let d = try Namespace("fd")
        try c.adopt(tapC, address: "10.97.1.1/24")
        try d.adopt(tapD, address: "10.97.1.2/24")
        #expect(try c.canPing("10.97.1.2"))
        let browser = try SignedInClient(port: bench.vnetd.application.port, initialPasswordFile: bench.vnetd.configuration.initialPasswordFile)

        let stormSeconds = 8.0
        let storm = EthernetBuilder.header(destination: .broadcast, source: bench.socketNIC.mac, type: EtherType(rawValue: 0x88B5))
            + [UInt8](repeating: 0x5A, count: 46)
        let prefix = LengthPrefixedFramer.prefix(storm.count)
        let chunk = [UInt8]((0..<1000).map { _ in [prefix.0, prefix.1, prefix.2, prefix.3] + storm }.joined())
        let before = bench.status().ports.map(\.counters.rxFrames).reduce(0, +)
        let stormer = Thread { [peer = bench.peer] in
            let deadline = Date().addingTimeInterval(stormSeconds)
            while Date() < deadline { try? peer.write(chunk) }
        }
        stormer.start()
        usleep(500_000)

        // During the storm: 50 pings on the quiet network, and the admin site's pages. The storm's
        // rate is taken over the ping's own window, so the pings cannot have run beside a lull.
        // Each network is served by a thread of its own, so the storm cannot starve the other:
        // the quiet network's thread spends next to nothing while the storm's is busy.
        let dataplane = bench.vnetd.application.dataplane
        let stormThread = try #require(dataplane.threadID(serving: bench.network))
        let quietThread = try #require(dataplane.threadID(serving: quiet))
        let cpuStart = (try threadCPUSeconds(stormThread), try threadCPUSeconds(quietThread))
        let windowStart = (Date(), bench.status().ports.map(\.counters.rxFrames).reduce(0, +))
        let ping = try run(["ip", "netns", "exec", c.name, "ping", "-c", "50", "-i", "0.1", "-W", "1", "-q", "10.97.1.2"], check: false)
        let windowEnd = (Date(), bench.status().ports.map(\.counters.rxFrames).reduce(0, +))
        let stormCPU = try threadCPUSeconds(stormThread) - cpuStart.0, quietCPU = try threadCPUSeconds(quietThread) - cpuStart.1
        let windowRate = Double(windowEnd.1 - windowStart.1) / windowEnd.0.timeIntervalSince(windowStart.0)
        var pageMilliseconds: [Double] = []
        for path in ["/", "/networks", "/networks/\(bench.network.rawValue)", "/events"] {
            let started = Date()
            #expect(try browser.get(path).status == 200, "\(path) during the storm")
            pageMilliseconds.append(Date().timeIntervalSince(started) * 1000)
        }
        while !stormer.isFinished { usleep(100_000) }
        let stormFrames = bench.status().ports.map(\.counters.rxFrames).reduce(0, +) - before

        let loss = ping.output.firstMatch(of: /(\d+)% packet loss/).flatMap { Int($0.1) }
        let rtt = ping.output.firstMatch(of: /= [\d.]+\/([\d.]+)\/([\d.]+)/)
        #expect(loss == 0, "the quiet network loses no ping during the storm: \(ping.output)")
        #expect(stormFrames > 100_000, "the storm really ran")
        #expect(windowRate > 20_000, "and ran while the quiet network was pinged: \(Int(windowRate)) frames/s")
        if ProcessInfo.processInfo.activeProcessorCount >= 2 {
            #expect(stormThread != quietThread, "with two cores or more, the two networks are on different data path threads")
            #expect(quietCPU < stormCPU / 10, "the quiet network's thread did not carry the storm: \(quietCPU) s of CPU beside the storm's \(stormCPU) s")
        }
        #expect(try c.canPing("10.97.1.2"))
        #expect(try bench.a.canPing("10.97.0.2"), "the storm network itself works again afterwards")
        print(String(format: "broadcast storm: %.0f frames/s for %.0f s on one network; the quiet network's ping: %d%% loss, avg %@ ms, max %@ ms; admin pages during the storm: max %.1f ms; CPU in the ping window: storm thread %.2f s, quiet thread %.2f s",
                     Double(stormFrames) / stormSeconds, stormSeconds, loss ?? -1, String(rtt?.1 ?? "?"), String(rtt?.2 ?? "?"), pageMilliseconds.max() ?? 0, stormCPU, quietCPU))
    }
}

/// This process's resident memory in KiB (vnetd runs in the test process).
func residentKiB() throws -> Int { try residentKiB(of: getpid()) }
