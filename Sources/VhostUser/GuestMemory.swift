/// The guest's memory as this process sees it: the front end's regions, each mapped here at
/// `base` (the edge maps the descriptors; this type only translates).
///
/// Two address spaces point into it: descriptors hold guest physical addresses; ring addresses
/// (SET_VRING_ADDR) are the front end's own virtual addresses. A range is translated only when
/// it lies wholly inside one region; anything else (outside every region, wrapping, straddling
/// two) is refused, so no guest value can make vnetd touch memory it did not map.
///
/// Immutable, with its regions in storage of its own: translating (once per descriptor) costs
/// no reference counting.
public final class GuestMemory {
    public struct Region {
        public var descriptor: RegionDescriptor
        /// Where the region's first byte is mapped in this process.
        public var base: UnsafeMutableRawPointer

        public init(_ descriptor: RegionDescriptor, base: UnsafeMutableRawPointer) {
            self.descriptor = descriptor
            self.base = base
        }
    }

    private let storage: UnsafeMutablePointer<Region>
    public let count: Int

    public init(regions: [Region] = []) {
        count = regions.count
        storage = .allocate(capacity: max(1, regions.count))
        for (index, region) in regions.enumerated() { (storage + index).initialize(to: region) }
    }

    deinit {
        storage.deinitialize(count: count)
        storage.deallocate()
    }

    public var isEmpty: Bool { count == 0 }
    public var regions: [Region] { Array(UnsafeBufferPointer(start: storage, count: count)) }

    /// Guest physical `[address, address + length)` as a pointer, or nil.
    @inline(__always)
    public func guest(_ address: UInt64, length: UInt64) -> UnsafeMutableRawPointer? {
        for index in 0..<count {
            let region = storage[index]
            let start = region.descriptor.guestAddress
            if address >= start, let pointer = Self.inside(address - start, length, region) { return pointer }
        }
        return nil
    }

    /// The front end's virtual `[address, address + length)` as a pointer, or nil.
    public func user(_ address: UInt64, length: UInt64) -> UnsafeMutableRawPointer? {
        for index in 0..<count {
            let region = storage[index]
            let start = region.descriptor.userAddress
            if address >= start, let pointer = Self.inside(address - start, length, region) { return pointer }
        }
        return nil
    }

    @inline(__always)
    private static func inside(_ offset: UInt64, _ length: UInt64, _ region: Region) -> UnsafeMutableRawPointer? {
        let size = region.descriptor.size
        guard offset < size, length <= size - offset else { return nil }
        return region.base + Int(offset)
    }
}
