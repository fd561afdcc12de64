import Packets
import Testing
@testable import Switching

/// Storm control drops what exceeds a port's limit, per kind of flooded frame, and nothing else.
@Suite("Storm control")
struct StormControlTests {
    let multicast: UInt64 = 0x0100_5E00_0001

    func drops(_ bench: Bench, port: UInt32) -> DropCounts {
        bench.fabric.counters(of: PortID(port))?.rxDrops ?? DropCounts()
    }

    @Test func offByDefault() {
        let bench = Bench()
        for _ in 0..<5_000 { bench.send(frame(from: a, to: broadcast), from: 1) }
        #expect(bench.delivered() == [1: 0, 2: 5_000, 3: 5_000])
    }

    @Test func aBroadcastBurstPassesOneSecondsWorthThenTheRefillRate() {
        let bench = Bench()
        bench.fabric.stormLimits = StormLimits(broadcast: 100)
        for _ in 0..<150 { bench.send(frame(from: a, to: broadcast), from: 1) }
        #expect(bench.delivered() == [1: 0, 2: 100, 3: 100], "a full bucket: one second's worth")
        #expect(drops(bench, port: 1).stormBroadcast == 50)
        bench.now += 500
        for _ in 0..<150 { bench.send(frame(from: a, to: broadcast), from: 1) }
        #expect(bench.delivered() == [1: 0, 2: 50, 3: 50], "half a second refills half the limit")
        #expect(drops(bench, port: 1).stormBroadcast == 150)
        bench.now += 10_000
        for _ in 0..<100 { bench.send(frame(from: a, to: broadcast), from: 1) }
        #expect(bench.delivered()[2] == 100, "a quiet port's bucket holds no more than one second's worth")
    }

    @Test func eachKindHasItsOwnLimitAndKnownUnicastIsNeverLimited() {
        let bench = Bench()
        bench.fabric.stormLimits = StormLimits(broadcast: 10, unknownUnicast: 20)
        bench.send(frame(from: b, to: a), from: 2)  // a learns b on port 2
        _ = bench.delivered()
        for _ in 0..<1_000 {
            bench.send(frame(from: a, to: broadcast), from: 1)
            bench.send(frame(from: a, to: multicast), from: 1)
            bench.send(frame(from: a, to: 0x0003FF0000EE), from: 1)  // nobody learned: flooded
            bench.send(frame(from: a, to: b), from: 1)  // known: to port 2 only
        }
        let delivered = bench.delivered()
        #expect(delivered[3] == 10 + 1_000 + 20, "port 3 gets the limited broadcast and unknown unicast, all the multicast")
        #expect(delivered[2] == 10 + 1_000 + 20 + 1_000, "and port 2 also every known unicast frame")
        let counted = drops(bench, port: 1)
        #expect(counted.stormBroadcast == 990 && counted.stormUnknownUnicast == 980 && counted.stormMulticast == 0)
        #expect(counted.total == 990 + 980)
    }

    @Test func limitsArePerPort() {
        let bench = Bench()
        bench.fabric.stormLimits = StormLimits(multicast: 5)
        for _ in 0..<10 {
            bench.send(frame(from: a, to: multicast), from: 1)
            bench.send(frame(from: b, to: multicast), from: 2)
        }
        #expect(bench.delivered() == [1: 5, 2: 5, 3: 10])
        #expect(drops(bench, port: 1).stormMulticast == 5 && drops(bench, port: 2).stormMulticast == 5)
    }

    @Test func aServicePortIsNotLimited() {
        let fabric = VirtualSwitch(name: "s")
        let out = MemoryPort()
        fabric.attach(PortID(1), sink: MemoryPort(), role: .service(mac: MACAddress(value: a)))
        fabric.attach(PortID(2), sink: out)
        fabric.stormLimits = StormLimits(broadcast: 1)
        let probe = frame(from: a, to: broadcast)
        for _ in 0..<50 { probe.withUnsafeBytes { fabric.receive($0, from: PortID(1), now: 1) } }
        #expect(out.take().count == 50)
    }
}
