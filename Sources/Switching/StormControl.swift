import Packets

/// Storm control: how many broadcast, multicast and unknown-unicast frames per second each port
/// of a network may bring in (nil: no limit). Frames over a limit are dropped on ingress and
/// counted by reason; known unicast is never limited, and neither is a vnetd service's port.
public struct StormLimits: Sendable, Equatable {
    public var broadcast: UInt32?
    public var multicast: UInt32?
    public var unknownUnicast: UInt32?

    public init(broadcast: UInt32? = nil, multicast: UInt32? = nil, unknownUnicast: UInt32? = nil) {
        self.broadcast = broadcast
        self.multicast = multicast
        self.unknownUnicast = unknownUnicast
    }

    public var isOff: Bool { broadcast == nil && multicast == nil && unknownUnicast == nil }
}

/// Token buckets of one port, one per kind of flooded frame. A bucket holds one second's worth
/// of its limit and refills continuously; levels are in thousandths of a frame, so refilling is
/// integer arithmetic on the loop's millisecond clock. Nothing allocates.
struct StormMeter {
    private var broadcast = Bucket()
    private var multicast = Bucket()
    private var unknownUnicast = Bucket()

    enum Kind {
        case broadcast, multicast, unknownUnicast
    }

    /// True when the frame fits its bucket (and takes a token); false when it is over the limit.
    @inline(__always)
    mutating func admit(_ kind: Kind, limits: StormLimits, now: Int64) -> Bool {
        switch kind {
        case .broadcast: broadcast.take(limit: limits.broadcast, now: now)
        case .multicast: multicast.take(limit: limits.multicast, now: now)
        case .unknownUnicast: unknownUnicast.take(limit: limits.unknownUnicast, now: now)
        }
    }

    private struct Bucket {
        /// Thousandths of a frame; nil until the first frame (a bucket starts full).
        var level: Int64?
        var last: Int64 = 0

        @inline(__always)
        mutating func take(limit: UInt32?, now: Int64) -> Bool {
            guard let limit else { return true }
            // A limit of R frames/s refills R thousandths per millisecond, up to R frames.
            let rate = Int64(limit), capacity = Int64(limit) * 1000
            var current = capacity
            if let level {
                let elapsed = min(max(0, now - last), 1000)
                current = min(capacity, level + elapsed * rate)
            }
            last = now
            guard current >= 1000 else {
                level = current
                return false
            }
            level = current - 1000
            return true
        }
    }
}
