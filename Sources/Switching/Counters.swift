/// Traffic through one port, seen from the switch: rx is what the port brought in, tx what the
/// switch gave it.
public struct PortCounters: Sendable, Equatable {
    public var rxFrames: UInt64 = 0
    public var rxBytes: UInt64 = 0
    public var txFrames: UInt64 = 0
    public var txBytes: UInt64 = 0
    /// Drops of frames this port brought in, by reason.
    public var rxDrops = DropCounts()
    /// Drops of frames meant for this port, by reason.
    public var txDrops = DropCounts()

    public init() {}

    public static func + (lhs: PortCounters, rhs: PortCounters) -> PortCounters {
        var sum = lhs
        sum.rxFrames &+= rhs.rxFrames
        sum.rxBytes &+= rhs.rxBytes
        sum.txFrames &+= rhs.txFrames
        sum.txBytes &+= rhs.txBytes
        sum.rxDrops = lhs.rxDrops + rhs.rxDrops
        sum.txDrops = lhs.txDrops + rhs.txDrops
        return sum
    }
}

/// One counter per `DropReason`, without an array (no allocation when counting).
public struct DropCounts: Sendable, Equatable {
    public var malformed: UInt64 = 0
    public var badSource: UInt64 = 0
    public var sameSegment: UInt64 = 0
    public var congested: UInt64 = 0
    public var notAttached: UInt64 = 0
    public var failed: UInt64 = 0
    public var needsOffload: UInt64 = 0
    public var linkLocal: UInt64 = 0
    public var spoofedSource: UInt64 = 0
    public var dhcpFiltered: UInt64 = 0
    public var looped: UInt64 = 0
    public var tooBig: UInt64 = 0
    public var stormBroadcast: UInt64 = 0
    public var stormMulticast: UInt64 = 0
    public var stormUnknownUnicast: UInt64 = 0

    public init() {}

    @inline(__always)
    public mutating func count(_ reason: DropReason) {
        switch reason {
        case .malformed: malformed &+= 1
        case .badSource: badSource &+= 1
        case .sameSegment: sameSegment &+= 1
        case .congested: congested &+= 1
        case .notAttached: notAttached &+= 1
        case .failed: failed &+= 1
        case .needsOffload: needsOffload &+= 1
        case .linkLocal: linkLocal &+= 1
        case .spoofedSource: spoofedSource &+= 1
        case .dhcpFiltered: dhcpFiltered &+= 1
        case .looped: looped &+= 1
        case .tooBig: tooBig &+= 1
        case .stormBroadcast: stormBroadcast &+= 1
        case .stormMulticast: stormMulticast &+= 1
        case .stormUnknownUnicast: stormUnknownUnicast &+= 1
        }
    }

    public subscript(reason: DropReason) -> UInt64 {
        switch reason {
        case .malformed: malformed
        case .badSource: badSource
        case .sameSegment: sameSegment
        case .congested: congested
        case .notAttached: notAttached
        case .failed: failed
        case .needsOffload: needsOffload
        case .linkLocal: linkLocal
        case .spoofedSource: spoofedSource
        case .dhcpFiltered: dhcpFiltered
        case .looped: looped
        case .tooBig: tooBig
        case .stormBroadcast: stormBroadcast
        case .stormMulticast: stormMulticast
        case .stormUnknownUnicast: stormUnknownUnicast
        }
    }

    /// Drops that mean trouble; same-segment filtering is normal switch behaviour, and so is the
    /// host's copy of a VM's broadcast coming back (`looped`).
    public var total: UInt64 {
        malformed &+ badSource &+ congested &+ notAttached &+ failed &+ needsOffload &+ linkLocal &+ spoofedSource &+ dhcpFiltered &+ tooBig
            &+ stormBroadcast &+ stormMulticast &+ stormUnknownUnicast
    }

    public static func + (lhs: DropCounts, rhs: DropCounts) -> DropCounts {
        var sum = DropCounts()
        for reason in DropReason.allCases {
            let value = lhs[reason] &+ rhs[reason]
            switch reason {
            case .malformed: sum.malformed = value
            case .badSource: sum.badSource = value
            case .sameSegment: sum.sameSegment = value
            case .congested: sum.congested = value
            case .notAttached: sum.notAttached = value
            case .failed: sum.failed = value
            case .needsOffload: sum.needsOffload = value
            case .linkLocal: sum.linkLocal = value
            case .spoofedSource: sum.spoofedSource = value
            case .dhcpFiltered: sum.dhcpFiltered = value
            case .looped: sum.looped = value
            case .tooBig: sum.tooBig = value
            case .stormBroadcast: sum.stormBroadcast = value
            case .stormMulticast: sum.stormMulticast = value
            case .stormUnknownUnicast: sum.stormUnknownUnicast = value
            }
        }
        return sum
    }
}

/// Frames and bytes per second for the last 60 seconds, like Virtual Server's network counters.
/// Filled once a second from counter deltas, never per frame.
public struct TrafficHistory: Sendable {
    public static let length = 60

    public struct Sample: Sendable, Equatable {
        public var frames: UInt64
        public var bytes: UInt64
    }

    private var samples = Array(repeating: Sample(frames: 0, bytes: 0), count: TrafficHistory.length)
    private var next = 0
    private var last: (frames: UInt64, bytes: UInt64)?

    public init() {}

    /// Records the second that just ended, given the running totals at its end.
    public mutating func record(totalFrames: UInt64, totalBytes: UInt64) {
        let previous = last ?? (totalFrames, totalBytes)
        samples[next] = Sample(frames: totalFrames &- previous.frames, bytes: totalBytes &- previous.bytes)
        next = (next + 1) % Self.length
        last = (totalFrames, totalBytes)
    }

    /// Oldest first.
    public var perSecond: [Sample] {
        Array(samples[next...] + samples[..<next])
    }
}
