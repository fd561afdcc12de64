/// The guest's memory as this process sees it: the front end's regions, each mapped here at
/// `base` (the edge maps the descriptors; this type only translates).
///
/// Two address spaces point into it: descriptors hold guest physical addresses; ring addresses
/// (SET_VRING_ADDR) are the front end's own virtual addresses. A range is translated only when
/// it lies wholly inside one region; anything else (outside every region, wrapping, straddling
/// two) is refused, so no guest value can make vnetd touch memory it did not map.
public struct GuestMemory {
    public struct Region {
        public var descriptor: RegionDescriptor
        /// Where the region's first byte is mapped in this process.
        public var base: UnsafeMutableRawPointer

        public init(_ descriptor: RegionDescriptor, base: UnsafeMutableRawPointer) {
            self.descriptor = descriptor
            self.base = base
        }
    }

    public private(set) var regions: [Region]

    public init(regions: [Region] = []) {
        self.regions = regions
    }

    public var isEmpty: Bool { regions.isEmpty }

    /// Guest physical `[address, address + length)` as a pointer, or nil.
    @inline(__always)
    public func guest(_ address: UInt64, length: UInt64) -> UnsafeMutableRawPointer? {
        for region in regions {
            let start = region.descriptor.guestAddress
            if address >= start, let pointer = Self.inside(address - start, length, region) { return pointer }
        }
        return nil
    }

    /// The front end's virtual `[address, address + length)` as a pointer, or nil.
    public func user(_ address: UInt64, length: UInt64) -> UnsafeMutableRawPointer? {
        for region in regions {
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
