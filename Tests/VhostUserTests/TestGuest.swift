import VhostUser

/// A driver's side of a queue pair over plain memory, for tests: one region of guest memory at
/// guest address `guestBase` (user address `userBase`), rings at fixed offsets, buffers above.
final class TestGuest {
    static let guestBase: UInt64 = 0x10_0000
    static let userBase: UInt64 = 0x7F00_0000_0000
    let size: Int
    let memoryBytes: UnsafeMutableRawPointer
    let region: RegionDescriptor
    var memory: GuestMemory { GuestMemory(regions: [GuestMemory.Region(region, base: memoryBytes)]) }

    init(bytes: Int = 1 << 20) {
        size = bytes
        memoryBytes = .allocate(byteCount: bytes, alignment: 4096)
        memoryBytes.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        region = RegionDescriptor(guestAddress: Self.guestBase, size: UInt64(bytes), userAddress: Self.userBase, mmapOffset: 0)
    }

    deinit { memoryBytes.deallocate() }

    /// Ring `q` lives at offset q * 0x8000: descriptors, available ring at +0x2000, used at +0x4000.
    func address(queue: Int) -> Payload.VringAddress {
        let base = Self.userBase + UInt64(queue) * 0x8000
        return Payload.VringAddress(index: UInt32(queue), descriptors: base, used: base + 0x4000, available: base + 0x2000)
    }

    func offset(queue: Int) -> Int { queue * 0x8000 }

    func store16(_ value: UInt16, at offset: Int) { memoryBytes.storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt16.self) }
    func store32(_ value: UInt32, at offset: Int) { memoryBytes.storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt32.self) }
    func store64(_ value: UInt64, at offset: Int) { memoryBytes.storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt64.self) }
    func load16(_ offset: Int) -> UInt16 { UInt16(littleEndian: memoryBytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self)) }
    func load32(_ offset: Int) -> UInt32 { UInt32(littleEndian: memoryBytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }

    /// Writes descriptor `index` of a table at `table` (a memory offset).
    func descriptor(table: Int, _ index: Int, address: UInt64, length: UInt32, flags: UInt16, next: UInt16 = 0) {
        let at = table + 16 * index
        store64(address, at: at)
        store32(length, at: at + 8)
        store16(flags, at: at + 12)
        store16(next, at: at + 14)
    }

    /// Puts `head` in the available ring of a queue of `ringSize` entries and bumps its index.
    func makeAvailable(queue: Int, head: UInt16, ringSize: Int) {
        let available = offset(queue: queue) + 0x2000
        let index = load16(available + 2)
        store16(head, at: available + 4 + 2 * (Int(index) % ringSize))
        store16(index &+ 1, at: available + 2)
    }

    func usedIndex(queue: Int) -> UInt16 { load16(offset(queue: queue) + 0x4000 + 2) }
    func usedElement(queue: Int, _ slot: Int) -> (id: UInt32, length: UInt32) {
        let at = offset(queue: queue) + 0x4000 + 4 + 8 * slot
        return (load32(at), load32(at + 4))
    }

    func bytes(at offset: Int, count: Int) -> [UInt8] {
        Array(UnsafeRawBufferPointer(start: memoryBytes + offset, count: count))
    }

    func write(_ bytes: [UInt8], at offset: Int) {
        bytes.withUnsafeBytes { (memoryBytes + offset).copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
    }

    /// Guest physical address of a memory offset.
    static func gpa(_ offset: Int) -> UInt64 { guestBase + UInt64(offset) }

    /// A queue configured over this memory (ring size `ringSize`).
    func queue(_ q: Int, ringSize: UInt16 = 256, eventIndex: Bool = false, indirect: Bool = true) throws -> SplitQueue {
        let queue = SplitQueue()
        queue.eventIndex = eventIndex
        queue.indirectAllowed = indirect
        try queue.configure(size: ringSize, address: address(queue: q), memory: memory, base: 0)
        return queue
    }
}
