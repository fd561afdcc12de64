import Packets

/// Offers waiting for their ARP probe, in the order they were made. Every probe waits the same
/// time, so the oldest is always due first: one timer serves them all, and a probe costs O(1)
/// however many run at once (a thousand VMs starting together).
struct ProbeQueue<Waiting> {
    private struct Entry {
        let address: IPv4Address
        let due: Int64
        let serial: UInt64
    }

    private var waiting: [IPv4Address: (serial: UInt64, item: Waiting)] = [:]
    private var order: [Entry] = []
    private var head = 0
    private var nextSerial: UInt64 = 0

    var count: Int { waiting.count }
    var isEmpty: Bool { waiting.isEmpty }
    var nextDue: Int64? { head < order.count ? order[head].due : nil }

    func contains(_ address: IPv4Address) -> Bool { waiting[address] != nil }
    func item(probing address: IPv4Address) -> Waiting? { waiting[address]?.item }

    /// False when `address` is already being probed.
    mutating func add(_ item: Waiting, probing address: IPv4Address, due: Int64) -> Bool {
        guard waiting[address] == nil else { return false }
        nextSerial &+= 1
        waiting[address] = (nextSerial, item)
        order.append(Entry(address: address, due: due, serial: nextSerial))
        return true
    }

    /// The probe of `address` was answered: it leaves the queue.
    mutating func remove(_ address: IPv4Address) -> Waiting? {
        waiting.removeValue(forKey: address)?.item
    }

    /// Probes whose time is up at `now`, oldest first.
    mutating func due(at now: Int64) -> [(address: IPv4Address, item: Waiting)] {
        var result: [(IPv4Address, Waiting)] = []
        while head < order.count, order[head].due <= now {
            let entry = order[head]
            head += 1
            if let waiter = waiting[entry.address], waiter.serial == entry.serial {
                waiting[entry.address] = nil
                result.append((entry.address, waiter.item))
            }
        }
        if head > 1_024, head * 2 > order.count {
            order.removeFirst(head)
            head = 0
        }
        return result
    }
}
