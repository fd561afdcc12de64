import Synchronization

/// What a guest did wrong in its rings. Any of these ends the connection: the front end is
/// broken or hostile, and nothing it says about its rings can be trusted any more.
public enum RingError: Error, Equatable, Sendable {
    /// The available index moved ahead by more than the ring holds.
    case availableIndexJump
    case headOutOfRange
    case nextOutOfRange
    /// More descriptors than the table holds: a loop.
    case chainLoop
    case addressOutsideMemory
    case badIndirectTable
    case nestedIndirect
    /// A device-writable descriptor in a chain the device only reads, or the other way round.
    case wrongDirection
    case tooManySegments
    case ringOutsideMemory
    case badRingSize
    case misalignedRing

    public var label: String {
        switch self {
        case .availableIndexJump: "available index beyond the ring"
        case .headOutOfRange: "descriptor head out of range"
        case .nextOutOfRange: "next descriptor out of range"
        case .chainLoop: "descriptor chain loops"
        case .addressOutsideMemory: "buffer outside the guest's memory"
        case .badIndirectTable: "bad indirect descriptor table"
        case .nestedIndirect: "nested indirect table"
        case .wrongDirection: "descriptor of the wrong direction"
        case .tooManySegments: "descriptor chain too long"
        case .ringOutsideMemory: "ring outside the guest's memory"
        case .badRingSize: "ring size not a power of two up to 32,768"
        case .misalignedRing: "misaligned ring"
        }
    }
}

/// One piece of a buffer, mapped in this process.
public struct Segment {
    public var pointer: UnsafeMutableRawPointer
    public var length: Int
}

/// A split virtqueue (virtio 1.2 §2.7) seen from the device: descriptor table (16 bytes per
/// entry: address, length, flags, next), available ring (flags, index, heads, used_event) and
/// used ring (flags, index, {id, length} elements, avail_event), all in guest memory.
///
/// Every value read from guest memory is checked before use; a chain's buffers are collected as
/// segments in storage allocated once, so walking allocates nothing. Loop thread only.
public final class SplitQueue {
    public static let maximumSize: UInt16 = 32_768
    static let next: UInt16 = 1, write: UInt16 = 2, indirect: UInt16 = 4
    static let noInterrupt: UInt16 = 1

    /// Everything the frame path reads and writes, in storage of its own (no exclusivity checks
    /// or reference counting per frame).
    struct State {
        var size: UInt16 = 0
        var descriptors: UnsafeMutableRawPointer?
        var available: UnsafeMutableRawPointer?
        var used: UnsafeMutableRawPointer?
        var lastAvailable: UInt16 = 0
        var usedIndex: UInt16 = 0
        var signalledUsed: UInt16 = 0
        var signalledValid = false
        var eventIndex = false
        var indirectAllowed = false
        var segmentCount = 0
        var chainLength = 0
    }

    public let maximumSegments: Int
    private let state: UnsafeMutablePointer<State>
    private let storage: UnsafeMutablePointer<Segment>

    public init(maximumSegments: Int = 256) {
        self.maximumSegments = maximumSegments
        storage = .allocate(capacity: maximumSegments)
        state = .allocate(capacity: 1)
        state.initialize(to: State())
    }

    deinit {
        storage.deallocate()
        state.deinitialize(count: 1)
        state.deallocate()
    }

    public var size: UInt16 { state.pointee.size }
    /// Next available entry the device will take.
    public var lastAvailable: UInt16 {
        get { state.pointee.lastAvailable }
        set { state.pointee.lastAvailable = newValue }
    }
    /// Next used entry the device will fill; published by `publishUsed`.
    public var usedIndex: UInt16 { state.pointee.usedIndex }
    public var eventIndex: Bool {
        get { state.pointee.eventIndex }
        set { state.pointee.eventIndex = newValue }
    }
    public var indirectAllowed: Bool {
        get { state.pointee.indirectAllowed }
        set { state.pointee.indirectAllowed = newValue }
    }
    /// Segments of the chain `nextChain` returned last.
    public var segmentCount: Int { state.pointee.segmentCount }
    /// Bytes in those segments.
    public var chainLength: Int { state.pointee.chainLength }
    public var isReady: Bool { state.pointee.descriptors != nil }

    @inline(__always)
    public func segment(_ index: Int) -> Segment { storage[index] }

    /// Bytes each part takes for a ring of `size` entries (event fields included).
    public static func layout(size: UInt16) -> (descriptors: UInt64, available: UInt64, used: UInt64) {
        let n = UInt64(size)
        return (16 * n, 4 + 2 * n + 2, 4 + 8 * n + 2)
    }

    /// Finds the three parts in the front end's address space; the used index is taken from
    /// guest memory (after a reconnection the guest's used ring is where the last back end left it).
    public func configure(size: UInt16, address: Payload.VringAddress, memory: GuestMemory, base: UInt16) throws(RingError) {
        guard size > 0, size <= Self.maximumSize, size & (size - 1) == 0 else { throw .badRingSize }
        guard address.descriptors % 16 == 0, address.available % 2 == 0, address.used % 4 == 0 else { throw .misalignedRing }
        let layout = Self.layout(size: size)
        guard let table = memory.user(address.descriptors, length: layout.descriptors),
              let available = memory.user(address.available, length: layout.available),
              let used = memory.user(address.used, length: layout.used)
        else { throw .ringOutsideMemory }
        state.pointee.size = size
        state.pointee.descriptors = table
        state.pointee.available = available
        state.pointee.used = used
        state.pointee.lastAvailable = base
        let usedIndex = UInt16(littleEndian: used.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
        state.pointee.usedIndex = usedIndex
        state.pointee.signalledUsed = usedIndex
        state.pointee.signalledValid = false
    }

    public func reset() {
        state.pointee.descriptors = nil
        state.pointee.available = nil
        state.pointee.used = nil
        state.pointee.size = 0
        state.pointee.segmentCount = 0
    }

    /// Chains the driver has made available and the device has not taken.
    @inline(__always)
    public func pending() throws(RingError) -> Int {
        guard let available = state.pointee.available else { return 0 }
        let index = UInt16(littleEndian: available.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
        atomicMemoryFence(ordering: .acquiring)
        let count = Int(index &- state.pointee.lastAvailable)
        guard count <= Int(state.pointee.size) else { throw .availableIndexJump }
        return count
    }

    /// Takes the next available chain and collects its buffers (`segment(_:)`); returns its
    /// head, or nil when none is available. `writable`: the device writes into the chain (receive).
    public func nextChain(memory: GuestMemory, writable: Bool) throws(RingError) -> UInt16? {
        guard let available = state.pointee.available, try pending() > 0 else { return nil }
        let slot = Int(state.pointee.lastAvailable & (state.pointee.size &- 1))
        let head = UInt16(littleEndian: available.loadUnaligned(fromByteOffset: 4 + 2 * slot, as: UInt16.self))
        try walk(head: head, memory: memory, writable: writable)
        state.pointee.lastAvailable &+= 1
        return head
    }

    /// Gives back the last `count` chains taken (a frame that did not fit after all).
    public func unget(_ count: Int) {
        state.pointee.lastAvailable &-= UInt16(truncatingIfNeeded: count)
    }

    func walk(head: UInt16, memory: GuestMemory, writable: Bool) throws(RingError) {
        guard var table = state.pointee.descriptors, head < state.pointee.size else { throw .headOutOfRange }
        var tableSize = Int(state.pointee.size)
        var index = Int(head)
        var seen = 0
        var inIndirect = false
        var segments = 0
        var total = 0
        defer {
            state.pointee.segmentCount = segments
            state.pointee.chainLength = total
        }
        let indirectAllowed = state.pointee.indirectAllowed
        while true {
            seen += 1
            guard seen <= tableSize else { throw .chainLoop }
            let entry = table + 16 * index
            let address = UInt64(littleEndian: entry.loadUnaligned(as: UInt64.self))
            let length = UInt32(littleEndian: entry.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
            let flags = UInt16(littleEndian: entry.loadUnaligned(fromByteOffset: 12, as: UInt16.self))
            let next = UInt16(littleEndian: entry.loadUnaligned(fromByteOffset: 14, as: UInt16.self))
            if flags & Self.indirect != 0 {
                guard !inIndirect else { throw .nestedIndirect }
                guard indirectAllowed, flags & Self.next == 0, length > 0, length % 16 == 0, length / 16 <= UInt32(Self.maximumSize)
                else { throw .badIndirectTable }
                guard let indirectTable = memory.guest(address, length: UInt64(length)) else { throw .addressOutsideMemory }
                table = indirectTable
                tableSize = Int(length / 16)
                index = 0
                seen = 0
                inIndirect = true
                continue
            }
            guard (flags & Self.write != 0) == writable else { throw .wrongDirection }
            if length > 0 {
                guard let pointer = memory.guest(address, length: UInt64(length)) else { throw .addressOutsideMemory }
                guard segments < maximumSegments else { throw .tooManySegments }
                storage[segments] = Segment(pointer: pointer, length: Int(length))
                segments += 1
                total += Int(length)
            }
            guard flags & Self.next != 0 else { return }
            guard Int(next) < tableSize else { throw .nextOutOfRange }
            index = Int(next)
        }
    }

    /// Records a finished chain; the driver sees it after `publishUsed`.
    @inline(__always)
    public func addUsed(head: UInt16, length: Int) {
        guard let used = state.pointee.used else { return }
        let slot = Int(state.pointee.usedIndex & (state.pointee.size &- 1))
        used.storeBytes(of: UInt32(head).littleEndian, toByteOffset: 4 + 8 * slot, as: UInt32.self)
        used.storeBytes(of: UInt32(truncatingIfNeeded: length).littleEndian, toByteOffset: 8 + 8 * slot, as: UInt32.self)
        state.pointee.usedIndex &+= 1
    }

    /// Takes back used elements not yet published (a frame that ran out of buffers halfway).
    public func forgetUsed(_ count: Int) {
        state.pointee.usedIndex &-= UInt16(truncatingIfNeeded: count)
    }

    /// Makes every used element written so far visible to the driver (elements before index).
    @inline(__always)
    public func publishUsed() {
        guard let used = state.pointee.used else { return }
        atomicMemoryFence(ordering: .releasing)
        used.storeBytes(of: state.pointee.usedIndex.littleEndian, toByteOffset: 2, as: UInt16.self)
    }

    /// Whether the driver wants an interrupt for what was published since the last one: with
    /// EVENT_IDX, when the used index crossed the driver's used_event (virtio 1.2 §2.7.10);
    /// otherwise unless it set NO_INTERRUPT.
    public func needsSignal() -> Bool {
        guard let available = state.pointee.available, state.pointee.usedIndex != state.pointee.signalledUsed else { return false }
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        let new = state.pointee.usedIndex, old = state.pointee.signalledUsed, valid = state.pointee.signalledValid
        state.pointee.signalledUsed = new
        state.pointee.signalledValid = true
        if state.pointee.eventIndex {
            let event = UInt16(littleEndian: available.loadUnaligned(fromByteOffset: 4 + 2 * Int(state.pointee.size), as: UInt16.self))
            return !valid || Self.needEvent(event: event, new: new, old: old)
        }
        let flags = UInt16(littleEndian: available.loadUnaligned(as: UInt16.self))
        return flags & Self.noInterrupt == 0
    }

    /// vring_need_event: did the index move past `event` in the step from `old` to `new`?
    @inline(__always)
    public static func needEvent(event: UInt16, new: UInt16, old: UInt16) -> Bool {
        (new &- event &- 1) < (new &- old)
    }

    /// Asks the driver to kick when it makes the next chain available (EVENT_IDX: avail_event
    /// is our next index); returns true when chains arrived meanwhile (take them, no kick comes).
    public func armKick() throws(RingError) -> Bool {
        guard let used = state.pointee.used else { return false }
        if state.pointee.eventIndex {
            used.storeBytes(of: state.pointee.lastAvailable.littleEndian, toByteOffset: 4 + 8 * Int(state.pointee.size), as: UInt16.self)
        }
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        return try pending() > 0
    }
}
