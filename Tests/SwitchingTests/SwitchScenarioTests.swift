import Packets
import Testing
@testable import Switching

/// A frame from `source` to `destination` with a recognisable payload.
func frame(from source: UInt64, to destination: UInt64, tag: UInt8 = 0, size: Int = 64) -> [UInt8] {
    var bytes = EthernetBuilder.header(destination: MACAddress(value: destination), source: MACAddress(value: source), type: .ipv4)
    bytes += [UInt8](repeating: tag, count: max(0, size - bytes.count))
    return bytes
}

let a: UInt64 = 0x0003FF00000A, b: UInt64 = 0x0003FF00000B, c: UInt64 = 0x0003FF00000C
let broadcast: UInt64 = 0xFFFF_FFFF_FFFF

/// A switch with three in-memory ports, 1, 2 and 3.
final class Bench {
    let fabric: VirtualSwitch
    let ports: [PortID: MemoryPort]
    var now: Int64 = 1_000

    init(ports count: UInt32 = 3, capacity: Int = 8192, agingTime: Int64 = 300_000) {
        fabric = VirtualSwitch(name: "test", macTableCapacity: capacity, agingTime: agingTime)
        var ports: [PortID: MemoryPort] = [:]
        for id in 1...count {
            let port = MemoryPort()
            ports[PortID(id)] = port
            fabric.attach(PortID(id), sink: port)
        }
        self.ports = ports
    }

    func send(_ bytes: [UInt8], from port: UInt32) {
        bytes.withUnsafeBytes { fabric.receive($0, from: PortID(port), now: now) }
    }

    /// How many frames each port got since the last call, by port number.
    func delivered() -> [UInt32: Int] {
        var result: [UInt32: Int] = [:]
        for (id, port) in ports { result[id.rawValue] = port.take().count }
        return result
    }
}

@Suite("Learning switch scenarios")
struct SwitchScenarioTests {
    @Test func unknownUnicastAndBroadcastFloodToAllButTheIngress() {
        let bench = Bench()
        bench.send(frame(from: a, to: b), from: 1)
        #expect(bench.delivered() == [1: 0, 2: 1, 3: 1])
        bench.send(frame(from: a, to: broadcast), from: 1)
        #expect(bench.delivered() == [1: 0, 2: 1, 3: 1])
        bench.send(frame(from: a, to: 0x01005E000001), from: 1)
        #expect(bench.delivered() == [1: 0, 2: 1, 3: 1])
    }

    @Test func learnedDestinationsGetUnicastOnly() {
        let bench = Bench()
        bench.send(frame(from: a, to: b), from: 1)
        bench.send(frame(from: b, to: a), from: 2)
        #expect(bench.delivered() == [1: 1, 2: 1, 3: 1])
        bench.send(frame(from: a, to: b, tag: 7), from: 1)
        let port2 = bench.ports[PortID(2)]!.take()
        #expect(port2 == [frame(from: a, to: b, tag: 7)])
        #expect(bench.delivered() == [1: 0, 2: 0, 3: 0])
        #expect(bench.fabric.table.counters.learned == 2)
    }

    @Test func multicastSourcesAreDroppedAndNeverLearned() {
        let bench = Bench()
        bench.send(frame(from: 0x01005E000001, to: a), from: 1)
        #expect(bench.delivered() == [1: 0, 2: 0, 3: 0])
        #expect(bench.fabric.table.count == 0)
        #expect(bench.fabric.counters(of: PortID(1))?.rxDrops.badSource == 1)
    }

    @Test func malformedFramesAreCountedAndDoNotTouchTheTable() {
        let bench = Bench()
        bench.send([0x00, 0x03, 0xFF], from: 1)
        bench.send([], from: 1)
        bench.send(frame(from: a, to: b, size: 70_000), from: 1)
        #expect(bench.delivered() == [1: 0, 2: 0, 3: 0])
        #expect(bench.fabric.counters(of: PortID(1))?.rxDrops.malformed == 3)
        #expect(bench.fabric.counters(of: PortID(1))?.rxFrames == 3)
        #expect(bench.fabric.table.count == 0)
    }

    @Test func entriesAgeOutAndThenFlood() {
        let bench = Bench(agingTime: 300_000)
        bench.send(frame(from: b, to: a), from: 2)
        _ = bench.delivered()
        bench.now += 299_000
        bench.send(frame(from: a, to: b), from: 1)
        #expect(bench.delivered() == [1: 0, 2: 1, 3: 0])
        bench.now += 301_000
        // b has not spoken for 301 s: unknown again, so the frame floods.
        bench.send(frame(from: a, to: b), from: 1)
        #expect(bench.delivered() == [1: 0, 2: 1, 3: 1])
        bench.fabric.tick(now: bench.now)
        #expect(bench.fabric.table.count == 1)  // only a, refreshed just now
        #expect(bench.fabric.table.counters.expired == 1)
    }

    @Test func aStationThatMovesIsFollowed() {
        let bench = Bench()
        bench.send(frame(from: b, to: broadcast), from: 2)
        bench.send(frame(from: b, to: broadcast), from: 3)
        _ = bench.delivered()
        bench.send(frame(from: a, to: b), from: 1)
        #expect(bench.delivered() == [1: 0, 2: 0, 3: 1])
        #expect(bench.fabric.table.counters.moved == 1)
    }

    @Test func frameToTheSameSegmentIsFiltered() {
        let bench = Bench()
        bench.send(frame(from: a, to: broadcast), from: 1)
        bench.send(frame(from: b, to: broadcast), from: 1)
        _ = bench.delivered()
        bench.send(frame(from: a, to: b), from: 1)
        #expect(bench.delivered() == [1: 0, 2: 0, 3: 0])
        #expect(bench.fabric.counters(of: PortID(1))?.rxDrops.sameSegment == 1)
    }

    @Test func theTableStaysAtItsCapEvictingTheLeastRecentlySeen() {
        let bench = Bench(capacity: 100)
        for station in 0..<10_000 as Range<UInt64> {
            bench.send(frame(from: 0x0200_0000_0000 + station, to: broadcast), from: 1)
        }
        #expect(bench.fabric.table.count == 100)
        #expect(bench.fabric.table.counters.evicted == 9_900)
        // The newest stations are known, the oldest forgotten.
        #expect(bench.fabric.table.port(of: MACAddress(value: 0x0200_0000_0000 + 9_999), now: bench.now) == PortID(1))
        #expect(bench.fabric.table.port(of: MACAddress(value: 0x0200_0000_0000), now: bench.now) == nil)
    }

    @Test func refreshingKeepsAnEntryFromEviction() {
        var table = MACTable(capacity: 3)
        table.learn(MACAddress(value: a), on: PortID(1), now: 0)
        table.learn(MACAddress(value: b), on: PortID(1), now: 1)
        table.learn(MACAddress(value: c), on: PortID(1), now: 2)
        table.learn(MACAddress(value: a), on: PortID(1), now: 3)  // a is now the most recent
        table.learn(MACAddress(value: 0x0003FF00000D), on: PortID(2), now: 4)  // evicts b
        #expect(table.port(of: MACAddress(value: a), now: 5) != nil)
        #expect(table.port(of: MACAddress(value: b), now: 5) == nil)
        #expect(table.entries(now: 5).map(\.address.value) == [0x0003FF00000D, a, c])
    }

    /// A NIC whose backend is replaced while it stays on the network (a new socket, a new TAP)
    /// must get frames on the new one, not the closed one.
    @Test func attachingAMemberAgainReplacesItsSinkAndKeepsItsCounters() {
        let bench = Bench(ports: 2)
        bench.send(frame(from: a, to: broadcast), from: 1)
        let replacement = MemoryPort()
        bench.fabric.attach(PortID(2), sink: replacement)
        bench.send(frame(from: a, to: broadcast), from: 1)
        #expect(replacement.frames.count == 1)
        #expect(bench.ports[PortID(2)]?.frames.count == 1, "the old sink got only the first frame")
        #expect(bench.fabric.members == [PortID(1), PortID(2)])
        #expect(bench.fabric.counters(of: PortID(2))?.txFrames == 2)
    }

    @Test func dropsAtAFullPortAreCountedAndOthersStillGetTheFrame() {
        let fabric = VirtualSwitch(name: "t")
        let slow = MemoryPort(capacity: 1), fast = MemoryPort(), source = MemoryPort()
        fabric.attach(PortID(1), sink: source)
        fabric.attach(PortID(2), sink: slow)
        fabric.attach(PortID(3), sink: fast)
        for _ in 0..<5 {
            frame(from: a, to: broadcast).withUnsafeBytes { fabric.receive($0, from: PortID(1), now: 0) }
        }
        #expect(fast.frames.count == 5)
        #expect(slow.frames.count == 1)
        #expect(fabric.counters(of: PortID(2))?.txDrops.congested == 4)
        #expect(fabric.counters(of: PortID(3))?.txFrames == 5)
    }

    @Test func aPortMovedBetweenSwitchesKeepsItsCountersAndLeavesNoEntries() throws {
        let red = Bench(ports: 2)
        let blue = VirtualSwitch(name: "blue")
        let other = MemoryPort()
        blue.attach(PortID(5), sink: other)
        red.send(frame(from: a, to: broadcast, size: 100), from: 1)
        let (carried, history) = try #require(red.fabric.detach(PortID(1)))
        #expect(carried.rxFrames == 1 && carried.rxBytes == 100)
        #expect(red.fabric.table.count == 0)
        #expect(red.fabric.totals.rxFrames == 1)
        let mover = MemoryPort()
        blue.attach(PortID(1), sink: mover, counters: carried, history: history)
        frame(from: b, to: a).withUnsafeBytes { blue.receive($0, from: PortID(1), now: 0) }
        #expect(blue.counters(of: PortID(1))?.rxFrames == 2)
        #expect(other.frames.count == 1)
    }

    @Test func historyKeepsSixtySecondsOfPerSecondTraffic() {
        let bench = Bench(ports: 2)
        for second in 1...70 {
            for _ in 0..<second { bench.send(frame(from: a, to: b, size: 100), from: 1) }
            bench.now += 1_000
            bench.fabric.tick(now: bench.now)
        }
        let samples = bench.fabric.history.perSecond
        #expect(samples.count == 60)
        #expect(samples.last == TrafficHistory.Sample(frames: 70, bytes: 7_000))
        #expect(samples.first == TrafficHistory.Sample(frames: 11, bytes: 1_100))
    }
}

@Suite("QEMU stream framing")
struct FramerTests {
    func stream(_ frames: [[UInt8]]) -> [UInt8] {
        frames.flatMap { frame -> [UInt8] in
            let p = LengthPrefixedFramer.prefix(frame.count)
            return [p.0, p.1, p.2, p.3] + frame
        }
    }

    @Test func framesSurviveAnySplitIntoChunks() throws {
        let frames = (1...40).map { index in [UInt8](repeating: UInt8(index), count: 14 + index * 37) }
        let bytes = stream(frames)
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<50 {
            var framer = LengthPrefixedFramer()
            var received: [[UInt8]] = []
            var offset = 0
            while offset < bytes.count {
                let size = Int.random(in: 1...300, using: &generator)
                framer.append(bytes[offset..<min(bytes.count, offset + size)])
                offset += size
                try framer.drain { received.append(Array($0)) }
            }
            #expect(received == frames)
            #expect(framer.bufferedCount == 0)
        }
    }

    @Test func aTruncatedFrameWaitsForTheRest() throws {
        var framer = LengthPrefixedFramer()
        let bytes = stream([[UInt8](repeating: 9, count: 100)])
        framer.append(bytes.prefix(50))
        var count = 0
        try framer.drain { _ in count += 1 }
        #expect(count == 0)
        #expect(framer.bufferedCount == 50)
        framer.append(bytes.dropFirst(50))
        try framer.drain { _ in count += 1 }
        #expect(count == 1)
    }

    @Test func oversizeOrZeroLengthIsAProtocolError() {
        var framer = LengthPrefixedFramer()
        framer.append([0x00, 0x01, 0x10, 0x01])  // 69,633: one over QEMU's NET_BUFSIZE
        #expect(throws: LengthPrefixedFramer.FramingError.badLength(69_633)) { try framer.drain { _ in } }
        var zero = LengthPrefixedFramer()
        zero.append([0, 0, 0, 0])
        #expect(throws: LengthPrefixedFramer.FramingError.badLength(0)) { try zero.drain { _ in } }
        var largest = LengthPrefixedFramer()
        largest.append([0x00, 0x01, 0x10, 0x00] + [UInt8](repeating: 1, count: 69_632))
        var got = 0
        #expect(throws: Never.self) { try largest.drain { got = $0.count } }
        #expect(got == 69_632, "a guest with a 65,535-byte MTU (and QEMU's largest frame) is not cut off")
    }

    @Test func manyFullSizeFramesKeepFittingInTheBuffer() throws {
        var framer = LengthPrefixedFramer()
        let big = stream(Array(repeating: [UInt8](repeating: 3, count: 65_535), count: 20))
        var count = 0
        var offset = 0
        while offset < big.count {
            framer.append(big[offset..<min(big.count, offset + 100_000)])
            offset += 100_000
            try framer.drain { _ in count += 1 }
        }
        #expect(count == 20)
    }
}
