/// Virtio and vhost-user feature bits a vnetd net device speaks (virtio 1.2 §5.1.3, §6; the
/// vhost-user specification as QEMU 7.2 implements it).
public struct VirtioFeatures: OptionSet, Sendable, Hashable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    private init(bit: UInt64) { rawValue = 1 << bit }

    /// The device completes checksums the guest left partial (guest → switch).
    public static let checksum = VirtioFeatures(bit: 0)
    /// The guest takes frames whose checksum is left partial (switch → guest).
    public static let guestChecksum = VirtioFeatures(bit: 1)
    public static let guestTSO4 = VirtioFeatures(bit: 7)
    public static let guestTSO6 = VirtioFeatures(bit: 8)
    public static let guestECN = VirtioFeatures(bit: 9)
    public static let hostTSO4 = VirtioFeatures(bit: 11)
    public static let hostTSO6 = VirtioFeatures(bit: 12)
    public static let hostECN = VirtioFeatures(bit: 13)
    /// Receive buffers may be merged: one frame spans several chains, counted in `num_buffers`.
    public static let mergeableReceiveBuffers = VirtioFeatures(bit: 15)
    public static let indirectDescriptors = VirtioFeatures(bit: 28)
    public static let eventIndex = VirtioFeatures(bit: 29)
    /// vhost-user's own bit: protocol features may be negotiated.
    public static let protocolFeatures = VirtioFeatures(bit: 30)
    public static let version1 = VirtioFeatures(bit: 32)
    /// Dirty-page logging for live migration: never offered (no migration support).
    public static let logAll = VirtioFeatures(bit: 26)

    /// What vnetd offers a front end: everything a Linux guest needs to hand over and take whole
    /// 64 KiB TCP segments, no migration logging, no multi-queue.
    public static let offered: VirtioFeatures = [
        .checksum, .guestChecksum, .guestTSO4, .guestTSO6, .guestECN, .hostTSO4, .hostTSO6, .hostECN,
        .mergeableReceiveBuffers, .indirectDescriptors, .eventIndex, .protocolFeatures, .version1,
    ]

    /// The guest takes every offloaded frame a TAP or another guest can produce (partial
    /// checksums and TCP segments, IPv4 and IPv6); otherwise the switch finishes them first.
    public var guestTakesOffloads: Bool {
        isSuperset(of: [.guestChecksum, .guestTSO4, .guestTSO6, .guestECN])
    }

    /// Size of the virtio-net header in front of every frame: 12 bytes (with `num_buffers`)
    /// under VERSION_1 or mergeable buffers, else the legacy 10.
    public var netHeaderSize: Int {
        isDisjoint(with: [.version1, .mergeableReceiveBuffers]) ? 10 : 12
    }
}

/// vhost-user protocol feature bits (VHOST_USER_PROTOCOL_F_*).
public struct ProtocolFeatures: OptionSet, Sendable, Hashable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public static let multiQueue = ProtocolFeatures(rawValue: 1 << 0)
    public static let replyAck = ProtocolFeatures(rawValue: 1 << 3)

    /// Only REPLY_ACK: one queue pair, no configuration space, no back-end channel.
    public static let offered: ProtocolFeatures = [.replyAck]
}
