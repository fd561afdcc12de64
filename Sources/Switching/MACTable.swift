import Packets

/// Where each station was last seen, for one virtual network.
///
/// Policy (after Open vSwitch's mac-learning and Linux's br_fdb):
/// - only unicast source addresses are learned; multicast and broadcast never are;
/// - learning happens after the frame passed validation, so a malformed frame cannot
///   poison the table;
/// - an entry not refreshed for `agingTime` is treated as unknown at once and removed by the
///   next `expire(now:)` sweep;
/// - at most `capacity` entries; a new address arriving when the table is full evicts the
///   least recently seen one, so a MAC flood cannot grow memory;
/// - a known address seen on another port moves there (a VM moved, or a loop);
/// - a pinned address (a VM NIC's own MAC, the DHCP server's, the host adapter's) belongs to its
///   port until unpinned: it is never learned elsewhere, moved, aged or evicted, so a frame from
///   the LAN or another VM carrying it cannot steal its traffic. Pinned entries do not count
///   against `capacity`; there is one per port at most, so they are bounded by the ports.
///
/// Threading: owned by the switch's I/O thread, never shared; nothing here locks. Every
/// operation is O(1) (amortized while the table grows) except `expire`, which is O(entries
/// removed). Storage grows with the stations seen, up to `capacity`, and never shrinks: a
/// host with thousands of quiet networks does not pay for thousands of full tables.
public struct MACTable {
    public struct Entry: Sendable, Equatable {
        public var address: MACAddress
        public var port: PortID
        /// Milliseconds since the entry was last refreshed; 0 for a pinned entry.
        public var age: Int64
        public var isPinned: Bool = false
    }

    public struct Counters: Sendable, Equatable {
        public var learned: UInt64 = 0
        public var moved: UInt64 = 0
        public var expired: UInt64 = 0
        public var evicted: UInt64 = 0
    }

    public let capacity: Int
    /// Milliseconds.
    public let agingTime: Int64
    public private(set) var counters = Counters()

    private var pinned: [UInt64: PortID] = [:]
    private var index: [UInt64: Int32]
    private var addresses: [UInt64]
    private var ports: [PortID]
    private var lastSeen: [Int64]
    // Recency list: head is the most recently seen, tail the least. -1 ends the list.
    private var newer: [Int32]
    private var older: [Int32]
    private var head: Int32 = -1
    private var tail: Int32 = -1
    private var free: [Int32]

    public init(capacity: Int = 8192, agingTime: Int64 = 300_000) {
        precondition(capacity > 0)
        self.capacity = capacity
        self.agingTime = agingTime
        let initial = min(capacity, 16)
        index = Dictionary(minimumCapacity: initial)
        addresses = []
        ports = []
        lastSeen = []
        newer = []
        older = []
        free = []
        addresses.reserveCapacity(initial)
        ports.reserveCapacity(initial)
        lastSeen.reserveCapacity(initial)
        newer.reserveCapacity(initial)
        older.reserveCapacity(initial)
    }

    /// Learned (dynamic) entries; pinned ones are not counted.
    public var count: Int { index.count }

    public enum LearnResult: Equatable { case refreshed, learned, moved, ignored, pinned }

    /// Pins `address` to `port` (replacing a learned entry for it, or an older pin).
    public mutating func pin(_ address: MACAddress, to port: PortID) {
        guard address.isUnicast, !address.isZero else { return }
        if let slot = index[address.value] { remove(slot) }
        pinned[address.value] = port
    }

    /// Removes a pin, if `address` is pinned to `port`.
    public mutating func unpin(_ address: MACAddress, from port: PortID) {
        if pinned[address.value] == port { pinned[address.value] = nil }
    }

    /// True when `address` is pinned to a port other than `port`.
    @inline(__always)
    public func isPinned(_ address: MACAddress, elsewhereThan port: PortID) -> Bool {
        guard !pinned.isEmpty, let owner = pinned[address.value] else { return false }
        return owner != port
    }

    /// Records that `address` was seen on `port` at `now` (milliseconds, monotonic).
    @discardableResult
    public mutating func learn(_ address: MACAddress, on port: PortID, now: Int64) -> LearnResult {
        guard address.isUnicast, !address.isZero else { return .ignored }
        if !pinned.isEmpty, pinned[address.value] != nil { return .pinned }
        if let slot = index[address.value] {
            let i = Int(slot)
            lastSeen[i] = now
            touch(slot)
            if ports[i] != port {
                ports[i] = port
                counters.moved &+= 1
                return .moved
            }
            return .refreshed
        }
        let slot: Int32
        if let available = free.popLast() {
            slot = available
        } else if addresses.count < capacity {
            slot = Int32(addresses.count)
            addresses.append(0)
            ports.append(PortID(0))
            lastSeen.append(0)
            newer.append(-1)
            older.append(-1)
        } else {
            slot = tail
            index.removeValue(forKey: addresses[Int(slot)])
            unlink(slot)
            counters.evicted &+= 1
        }
        let i = Int(slot)
        addresses[i] = address.value
        ports[i] = port
        lastSeen[i] = now
        index[address.value] = slot
        pushFront(slot)
        counters.learned &+= 1
        return .learned
    }

    /// The port `address` was last seen on, if it is known and not aged out.
    @inline(__always)
    public func port(of address: MACAddress, now: Int64) -> PortID? {
        if !pinned.isEmpty, let port = pinned[address.value] { return port }
        guard let slot = index[address.value] else { return nil }
        let i = Int(slot)
        return now - lastSeen[i] <= agingTime ? ports[i] : nil
    }

    /// Removes entries idle for longer than the aging time; returns how many.
    @discardableResult
    public mutating func expire(now: Int64) -> Int {
        var removed = 0
        while tail >= 0, now - lastSeen[Int(tail)] > agingTime {
            remove(tail)
            counters.expired &+= 1
            removed += 1
        }
        return removed
    }

    /// Forgets every address learned or pinned on `port` (it left the switch).
    public mutating func forget(port: PortID) {
        pinned = pinned.filter { $0.value != port }
        var slot = head
        while slot >= 0 {
            let next = older[Int(slot)]
            if ports[Int(slot)] == port { remove(slot) }
            slot = next
        }
    }

    /// Entries, most recently seen first, for status pages.
    public func entries(now: Int64, limit: Int = .max) -> [Entry] {
        var result: [Entry] = pinned.sorted { $0.key < $1.key }.prefix(limit).map {
            Entry(address: MACAddress(value: $0.key), port: $0.value, age: 0, isPinned: true)
        }
        var slot = head
        while slot >= 0, result.count < limit {
            let i = Int(slot)
            if now - lastSeen[i] <= agingTime {
                result.append(Entry(address: MACAddress(value: addresses[i]), port: ports[i], age: now - lastSeen[i]))
            }
            slot = older[i]
        }
        return result
    }

    private mutating func remove(_ slot: Int32) {
        index.removeValue(forKey: addresses[Int(slot)])
        unlink(slot)
        free.append(slot)
    }

    private mutating func touch(_ slot: Int32) {
        guard head != slot else { return }
        unlink(slot)
        pushFront(slot)
    }

    private mutating func pushFront(_ slot: Int32) {
        let i = Int(slot)
        newer[i] = -1
        older[i] = head
        if head >= 0 { newer[Int(head)] = slot }
        head = slot
        if tail < 0 { tail = slot }
    }

    private mutating func unlink(_ slot: Int32) {
        let i = Int(slot)
        let before = newer[i], after = older[i]
        if before >= 0 { older[Int(before)] = after } else { head = after }
        if after >= 0 { newer[Int(after)] = before } else { tail = before }
        newer[i] = -1
        older[i] = -1
    }
}
