import AdminSite
import Application
import Domain
import Foundation
import Packets
import Switching
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

@Suite("Faults on the data path", .serialized, .enabled(if: isRoot, Comment(rawValue: needsRoot)))
struct FaultTests {
    @Test func tenThousandMalformedFramesAreCountedAndOtherPortsCarryOn() throws {
        let vnetd = try VnetdUnderTest()
        let lab = try vnetd.services.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        let (_, tapA) = try vnetd.tapVM("a", on: lab.id)
        let (_, tapB) = try vnetd.tapVM("b", on: lab.id)
        let bad = try vnetd.services.vms.create(name: "bad", notes: "", connectingTo: lab.id)
        let nic = try vnetd.nic(of: bad)
        vnetd.settle()
        let a = try Namespace("fa"), b = try Namespace("fb")
        try a.adopt(tapA, address: "10.98.0.1/24")
        try b.adopt(tapB, address: "10.98.0.2/24")
        let peer = try StreamPeer(path: try #require(vnetd.services.status.status(of: nic.id).endpoint))
        #expect(eventually { vnetd.services.status.status(of: nic.id).isAttached })

        // 10,000 frames, correctly framed but too short to be Ethernet (5 bytes) or with a
        // multicast source address.
        var burst: [UInt8] = []
        for index in 0..<10_000 {
            let frame: [UInt8] = index % 2 == 0
                ? [1, 2, 3, 4, 5]
                : EthernetBuilder.header(destination: .broadcast, source: MACAddress(value: 0x0100_5E00_0001), type: .ipv4) + [0, 0]
            let prefix = LengthPrefixedFramer.prefix(frame.count)
            burst += [prefix.0, prefix.1, prefix.2, prefix.3] + frame
        }
        try peer.write(burst)
        #expect(eventually(5) {
            vnetd.settle()
            let drops = vnetd.services.status.status(of: nic.id).counters.drops
            let malformed = drops.first { $0.reason == DropReason.malformed.label }?.count ?? 0
            let badSource = drops.first { $0.reason == DropReason.badSource.label }?.count ?? 0
            return malformed == 5_000 && badSource == 5_000
        })
        #expect(try a.canPing("10.98.0.2"))
        #expect(vnetd.services.status.status(of: nic.id).isAttached, "framing was valid, so the peer stays connected")
    }

    @Test func aMACFloodKeepsTheTableAtItsCapAndMemoryFlat() throws {
        let vnetd = try VnetdUnderTest()
        let lab = try vnetd.services.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        let (_, tapA) = try vnetd.tapVM("a", on: lab.id)
        let (_, tapB) = try vnetd.tapVM("b", on: lab.id)
        let flooder = try vnetd.services.vms.create(name: "flood", notes: "", connectingTo: lab.id)
        let nic = try vnetd.nic(of: flooder)
        vnetd.settle()
        let a = try Namespace("ma"), b = try Namespace("mb")
        try a.adopt(tapA, address: "10.99.1.1/24")
        try b.adopt(tapB, address: "10.99.1.2/24")
        let peer = try StreamPeer(path: try #require(vnetd.services.status.status(of: nic.id).endpoint))
        #expect(eventually { vnetd.services.status.status(of: nic.id).isAttached })

        func flood(_ range: Range<UInt64>) throws {
            var chunk: [UInt8] = []
            for station in range {
                // Unicast to a station nobody has: every frame is flooded, every source learned.
                let frame = EthernetBuilder.header(destination: MACAddress(value: 0x0200_DEAD_0001), source: MACAddress(value: 0x0200_0000_0000 + station), type: .ipv4) + [UInt8](repeating: 0, count: 46)
                let prefix = LengthPrefixedFramer.prefix(frame.count)
                chunk += [prefix.0, prefix.1, prefix.2, prefix.3] + frame
                if chunk.count > 1 << 20 {
                    try peer.write(chunk)
                    chunk.removeAll(keepingCapacity: true)
                }
            }
            try peer.write(chunk)
        }
        try flood(0..<20_000)
        #expect(eventually(10) { vnetd.settle(); return vnetd.services.status.status(of: lab.id).addressCount >= 8_000 })
        let before = try residentKiB()
        try flood(20_000..<100_000)
        #expect(eventually(15) {
            vnetd.settle()
            return vnetd.services.status.status(of: lab.id).tableCounters.learned >= 100_000
        })
        let status = vnetd.services.status.status(of: lab.id)
        #expect(status.addressCount == 8_192, "the table stays at its cap")
        #expect(status.tableCounters.evicted >= 100_000 - 8_192)
        #expect(try residentKiB() - before < 16 * 1024, "memory stays flat while 80,000 more stations arrive")
        #expect(try a.canPing("10.99.1.2"))
    }
}

/// This process's resident memory in KiB (vnetd runs in the test process).
func residentKiB() throws -> Int {
    let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
    let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
    return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
}
