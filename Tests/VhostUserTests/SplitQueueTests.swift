import Testing
import VhostUser

@Suite struct SplitQueueTests {
    let tx = 1, rx = 0
    let write: UInt16 = 2, next: UInt16 = 1, indirect: UInt16 = 4

    @Test func transmitChainOfHeaderAndFrameIsGatheredAndUsed() throws {
        let guest = TestGuest()
        let queue = try guest.queue(tx)
        let table = guest.offset(queue: tx)
        guest.write([UInt8](repeating: 0, count: 12), at: 0x20000)
        guest.write((0..<60).map { UInt8($0) }, at: 0x21000)
        guest.descriptor(table: table, 5, address: TestGuest.gpa(0x20000), length: 12, flags: next, next: 9)
        guest.descriptor(table: table, 9, address: TestGuest.gpa(0x21000), length: 60, flags: 0)
        guest.makeAvailable(queue: tx, head: 5, ringSize: 256)
        #expect(try queue.pending() == 1)
        let head = try queue.nextChain(memory: guest.memory, writable: false)
        #expect(head == 5)
        #expect(queue.segmentCount == 2 && queue.chainLength == 72)
        var buffer = [UInt8](repeating: 0xEE, count: 100)
        let length = buffer.withUnsafeMutableBytes { NetQueue.gather(queue, into: $0) }
        #expect(length == 72)
        #expect(Array(buffer[12..<72]) == (0..<60).map { UInt8($0) })
        #expect(try queue.nextChain(memory: guest.memory, writable: false) == nil)
        queue.addUsed(head: 5, length: 0)
        #expect(guest.usedIndex(queue: tx) == 0)  // not visible before publishing
        queue.publishUsed()
        #expect(guest.usedIndex(queue: tx) == 1)
        #expect(guest.usedElement(queue: tx, 0).id == 5)
    }

    @Test func chainThatTooSmallABufferCannotHoldIsRefusedByGather() throws {
        let guest = TestGuest()
        let queue = try guest.queue(tx)
        guest.descriptor(table: guest.offset(queue: tx), 0, address: TestGuest.gpa(0x20000), length: 2000, flags: 0)
        guest.makeAvailable(queue: tx, head: 0, ringSize: 256)
        _ = try queue.nextChain(memory: guest.memory, writable: false)
        var small = [UInt8](repeating: 0, count: 1000)
        #expect(small.withUnsafeMutableBytes { NetQueue.gather(queue, into: $0) } == nil)
    }

    /// Every guest value that could make the device loop, read or write outside the guest's
    /// memory is refused with its own error.
    @Test func hostileChainsAreRefused() throws {
        func attempt(_ setUp: (TestGuest, Int) -> UInt16, indirectAllowed: Bool = true, writable: Bool = false) throws -> RingError? {
            let guest = TestGuest()
            let queue = try guest.queue(tx, ringSize: 8, indirect: indirectAllowed)
            let head = setUp(guest, guest.offset(queue: tx))
            guest.makeAvailable(queue: tx, head: head, ringSize: 8)
            do {
                _ = try queue.nextChain(memory: guest.memory, writable: writable)
                return nil
            } catch {
                return error
            }
        }
        let buffer = TestGuest.gpa(0x20000)
        // A descriptor pointing at itself.
        #expect(try attempt { g, t in g.descriptor(table: t, 3, address: buffer, length: 10, flags: next, next: 3); return 3 } == .chainLoop)
        // A cycle through two descriptors.
        #expect(try attempt { g, t in
            g.descriptor(table: t, 1, address: buffer, length: 10, flags: next, next: 2)
            g.descriptor(table: t, 2, address: buffer, length: 10, flags: next, next: 1)
            return 1
        } == .chainLoop)
        #expect(try attempt { _, _ in 8 } == .headOutOfRange)
        #expect(try attempt { g, t in g.descriptor(table: t, 0, address: buffer, length: 10, flags: next, next: 8); return 0 } == .nextOutOfRange)
        // Outside the region, straddling its end, and wrapping around 2^64.
        #expect(try attempt { g, t in g.descriptor(table: t, 0, address: 0x1000, length: 10, flags: 0); return 0 } == .addressOutsideMemory)
        #expect(try attempt { g, t in g.descriptor(table: t, 0, address: TestGuest.gpa(g.size - 4), length: 10, flags: 0); return 0 } == .addressOutsideMemory)
        #expect(try attempt { g, t in g.descriptor(table: t, 0, address: UInt64.max - 2, length: 10, flags: 0); return 0 } == .addressOutsideMemory)
        // Direction: a device-writable buffer in a transmit chain, a readable one in a receive chain.
        #expect(try attempt { g, t in g.descriptor(table: t, 0, address: buffer, length: 10, flags: write); return 0 } == .wrongDirection)
        #expect(try attempt({ g, t in g.descriptor(table: t, 0, address: buffer, length: 10, flags: 0); return 0 }, writable: true) == .wrongDirection)
        // Indirect tables: not negotiated, odd length, with NEXT, outside memory, nested, looping.
        let indirectTable = 0x30000
        #expect(try attempt({ g, t in g.descriptor(table: t, 0, address: TestGuest.gpa(indirectTable), length: 32, flags: indirect); return 0 }, indirectAllowed: false) == .badIndirectTable)
        #expect(try attempt { g, t in g.descriptor(table: t, 0, address: TestGuest.gpa(indirectTable), length: 20, flags: indirect); return 0 } == .badIndirectTable)
        #expect(try attempt { g, t in g.descriptor(table: t, 0, address: TestGuest.gpa(indirectTable), length: 32, flags: indirect | next, next: 1); return 0 } == .badIndirectTable)
        #expect(try attempt { g, t in g.descriptor(table: t, 0, address: 0x10, length: 32, flags: indirect); return 0 } == .addressOutsideMemory)
        #expect(try attempt { g, t in
            g.descriptor(table: t, 0, address: TestGuest.gpa(indirectTable), length: 32, flags: indirect)
            g.descriptor(table: indirectTable, 0, address: TestGuest.gpa(indirectTable), length: 32, flags: indirect)
            return 0
        } == .nestedIndirect)
        #expect(try attempt { g, t in
            g.descriptor(table: t, 0, address: TestGuest.gpa(indirectTable), length: 32, flags: indirect)
            g.descriptor(table: indirectTable, 0, address: buffer, length: 10, flags: next, next: 1)
            g.descriptor(table: indirectTable, 1, address: buffer, length: 10, flags: next, next: 0)
            return 0
        } == .chainLoop)
        #expect(try attempt { g, t in
            g.descriptor(table: t, 0, address: TestGuest.gpa(indirectTable), length: 32, flags: indirect)
            g.descriptor(table: indirectTable, 0, address: buffer, length: 10, flags: next, next: 2)
            return 0
        } == .nextOutOfRange)
    }

    @Test func indirectTableIsWalked() throws {
        let guest = TestGuest()
        let queue = try guest.queue(tx)
        let indirectTable = 0x30000
        guest.descriptor(table: guest.offset(queue: tx), 0, address: TestGuest.gpa(indirectTable), length: 48, flags: indirect)
        guest.descriptor(table: indirectTable, 0, address: TestGuest.gpa(0x20000), length: 12, flags: next, next: 2)
        guest.descriptor(table: indirectTable, 2, address: TestGuest.gpa(0x21000), length: 100, flags: next, next: 1)
        guest.descriptor(table: indirectTable, 1, address: TestGuest.gpa(0x22000), length: 200, flags: 0)
        guest.makeAvailable(queue: tx, head: 0, ringSize: 256)
        #expect(try queue.nextChain(memory: guest.memory, writable: false) == 0)
        #expect(queue.segmentCount == 3 && queue.chainLength == 312)
    }

    @Test func availableIndexBeyondTheRingIsRefused() throws {
        let guest = TestGuest()
        let queue = try guest.queue(tx, ringSize: 8)
        guest.store16(9, at: guest.offset(queue: tx) + 0x2000 + 2)
        #expect(throws: RingError.availableIndexJump) { try queue.pending() }
    }

    @Test func ringsOutsideMemoryOrMisalignedOrOfBadSizeAreRefused() throws {
        let guest = TestGuest()
        var address = guest.address(queue: 0)
        #expect(throws: RingError.badRingSize) { try SplitQueue().configure(size: 100, address: address, memory: guest.memory, base: 0) }
        #expect(throws: RingError.badRingSize) { try SplitQueue().configure(size: 0, address: address, memory: guest.memory, base: 0) }
        address.used = TestGuest.userBase + UInt64(guest.size) - 8
        #expect(throws: RingError.ringOutsideMemory) { try SplitQueue().configure(size: 256, address: address, memory: guest.memory, base: 0) }
        address = guest.address(queue: 0)
        address.descriptors += 8
        #expect(throws: RingError.misalignedRing) { try SplitQueue().configure(size: 256, address: address, memory: guest.memory, base: 0) }
        // Guest physical addresses are not ring addresses: rings are in the front end's space.
        address = guest.address(queue: 0)
        address.available = TestGuest.gpa(0x2000)
        #expect(throws: RingError.ringOutsideMemory) { try SplitQueue().configure(size: 256, address: address, memory: guest.memory, base: 0) }
    }

    @Test func receiveIntoOneChainWritesHeaderAndFrame() throws {
        let guest = TestGuest()
        let queue = try guest.queue(rx)
        let table = guest.offset(queue: rx)
        guest.descriptor(table: table, 0, address: TestGuest.gpa(0x40000), length: 4, flags: write | next, next: 1)
        guest.descriptor(table: table, 1, address: TestGuest.gpa(0x41000), length: 2048, flags: write)
        guest.makeAvailable(queue: rx, head: 0, ringSize: 256)
        let frame = (0..<100).map { UInt8($0) }
        let header: [UInt8] = [1, 1, 54, 0, 0xB4, 0x05, 34, 0, 16, 0]
        let result = try header.withUnsafeBytes { h in
            try frame.withUnsafeBytes { try NetQueue.deliver(header: h, headerSize: 12, frame: $0, to: queue, memory: guest.memory, mergeable: true) }
        }
        #expect(result == .delivered(buffers: 1))
        queue.publishUsed()
        #expect(guest.usedIndex(queue: rx) == 1)
        #expect(guest.usedElement(queue: rx, 0) == (0, 112))
        // The header split over two descriptors: 4 bytes, then 6 + num_buffers, then the frame.
        #expect(guest.bytes(at: 0x40000, count: 4) == Array(header[0..<4]))
        #expect(guest.bytes(at: 0x41000, count: 8) == Array(header[4..<10]) + [1, 0])
        #expect(guest.bytes(at: 0x41008, count: 100) == frame)
    }

    @Test func mergeableBuffersCarryALargeFrameAndCountThemselves() throws {
        let guest = TestGuest()
        let queue = try guest.queue(rx)
        let table = guest.offset(queue: rx)
        for index in 0..<3 {
            guest.descriptor(table: table, index, address: TestGuest.gpa(0x40000 + index * 0x1000), length: 1000, flags: write)
            guest.makeAvailable(queue: rx, head: UInt16(index), ringSize: 256)
        }
        let frame = (0..<2500).map { UInt8(truncatingIfNeeded: $0) }
        let result = try frame.withUnsafeBytes { try NetQueue.deliver(header: nil, headerSize: 12, frame: $0, to: queue, memory: guest.memory, mergeable: true) }
        #expect(result == .delivered(buffers: 3))
        queue.publishUsed()
        #expect(guest.usedIndex(queue: rx) == 3)
        #expect([guest.usedElement(queue: rx, 0).length, guest.usedElement(queue: rx, 1).length, guest.usedElement(queue: rx, 2).length] == [1000, 1000, 512])
        #expect(guest.bytes(at: 0x40000 + 10, count: 2) == [3, 0])
        #expect(guest.bytes(at: 0x40000 + 12, count: 988) + guest.bytes(at: 0x41000, count: 1000) + guest.bytes(at: 0x42000, count: 512) == frame)
    }

    @Test func aFrameWithoutEnoughBuffersTakesNone() throws {
        let guest = TestGuest()
        let queue = try guest.queue(rx)
        let table = guest.offset(queue: rx)
        guest.descriptor(table: table, 0, address: TestGuest.gpa(0x40000), length: 1000, flags: write)
        guest.makeAvailable(queue: rx, head: 0, ringSize: 256)
        let frame = [UInt8](repeating: 7, count: 1500)
        #expect(try frame.withUnsafeBytes { try NetQueue.deliver(header: nil, headerSize: 12, frame: $0, to: queue, memory: guest.memory, mergeable: true) } == .noBuffers)
        #expect(try frame.withUnsafeBytes { try NetQueue.deliver(header: nil, headerSize: 12, frame: $0, to: queue, memory: guest.memory, mergeable: false) } == .tooLarge)
        queue.publishUsed()
        #expect(guest.usedIndex(queue: rx) == 0)
        #expect(try queue.pending() == 1)  // the buffer is still the guest's to fill
        let small = [UInt8](repeating: 7, count: 60)
        #expect(try small.withUnsafeBytes { try NetQueue.deliver(header: nil, headerSize: 10, frame: $0, to: queue, memory: guest.memory, mergeable: false) } == .delivered(buffers: 1))
    }

    @Test func eventIndexDecidesSignalsAndKicks() throws {
        #expect(SplitQueue.needEvent(event: 0, new: 1, old: 0))
        #expect(!SplitQueue.needEvent(event: 5, new: 3, old: 0))
        #expect(SplitQueue.needEvent(event: 5, new: 6, old: 3))
        #expect(SplitQueue.needEvent(event: 0xFFFF, new: 1, old: 0xFFF0))   // across the wrap
        let guest = TestGuest()
        let queue = try guest.queue(rx, ringSize: 256, eventIndex: true)
        let usedEvent = guest.offset(queue: rx) + 0x2000 + 4 + 2 * 256
        guest.store16(2, at: usedEvent)  // interrupt me once the used index passes 2
        #expect(!queue.needsSignal())  // nothing used yet
        queue.addUsed(head: 0, length: 10)
        queue.publishUsed()
        #expect(queue.needsSignal())  // the first one always signals
        queue.addUsed(head: 1, length: 10)
        queue.publishUsed()
        #expect(!queue.needsSignal())  // index 2 has not passed used_event 2
        queue.addUsed(head: 2, length: 10)
        queue.publishUsed()
        #expect(queue.needsSignal())
        // Without EVENT_IDX: the NO_INTERRUPT flag.
        let plain = try guest.queue(tx, ringSize: 256, eventIndex: false)
        guest.store16(1, at: guest.offset(queue: tx) + 0x2000)
        plain.addUsed(head: 0, length: 0)
        plain.publishUsed()
        #expect(!plain.needsSignal())
        // Arming kicks publishes avail_event = the next index and reports chains that raced in.
        let kicked = try guest.queue(tx, ringSize: 256, eventIndex: true)
        #expect(try kicked.armKick() == false)
        #expect(guest.load16(guest.offset(queue: tx) + 0x4000 + 4 + 8 * 256) == 0)
        guest.makeAvailable(queue: tx, head: 0, ringSize: 256)
        #expect(try kicked.armKick() == true)
    }
}
