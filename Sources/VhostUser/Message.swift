/// vhost-user messages on the unix socket: a 12-byte header (request, flags, payload size, all
/// little-endian u32) and a payload of at most `maximumPayload` bytes; file descriptors travel
/// beside the header as SCM_RIGHTS.
public enum Request: UInt32, Sendable {
    case getFeatures = 1, setFeatures, setOwner, resetOwner, setMemTable, setLogBase, setLogFD
    case setVringNum, setVringAddr, setVringBase, getVringBase, setVringKick, setVringCall, setVringErr
    case getProtocolFeatures, setProtocolFeatures, getQueueNum, setVringEnable, sendRARP, netSetMTU
    case setBackendRequestFD, iotlbMessage, setVringEndian, getConfig, setConfig
    case createCryptoSession, closeCryptoSession, postcopyAdvise, postcopyListen, postcopyEnd
    case getInflightFD, setInflightFD, gpuSetSocket, resetDevice, vringKick, getMaxMemSlots
    case addMemRegion, removeMemRegion, setStatus, getStatus

    /// Descriptors this request may carry; more is a protocol error.
    public var maximumFDs: Int {
        switch self {
        case .setMemTable: MemoryTableMessage.maximumRegions
        case .setVringKick, .setVringCall, .setVringErr, .setLogBase, .setLogFD, .setBackendRequestFD,
             .setInflightFD, .addMemRegion, .gpuSetSocket: 1
        default: 0
        }
    }

    /// Requests the back end always answers (apart from REPLY_ACK).
    public var expectsReply: Bool {
        switch self {
        case .getFeatures, .getProtocolFeatures, .getVringBase, .getQueueNum, .getConfig, .getInflightFD,
             .getMaxMemSlots, .getStatus, .postcopyAdvise: true
        default: false
        }
    }
}

public struct MessageHeader: Equatable, Sendable {
    public static let size = 12
    /// Larger than anything QEMU 7.2 sends a net device (the memory table, 264 bytes; a
    /// configuration space message, 268): a bigger size is a broken or hostile front end.
    public static let maximumPayload = 4096
    public static let version: UInt32 = 0x1
    public static let replyFlag: UInt32 = 0x4
    public static let needReplyFlag: UInt32 = 0x8

    public var request: UInt32
    public var flags: UInt32
    public var size: UInt32

    public init(request: UInt32, flags: UInt32, size: UInt32) {
        self.request = request
        self.flags = flags
        self.size = size
    }

    /// Reads a header; nil when there are fewer than 12 bytes.
    public init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= Self.size else { return nil }
        request = bytes.le32(0)
        flags = bytes.le32(4)
        size = bytes.le32(8)
    }

    /// Version 1 in the low two bits; anything else is not the protocol we speak.
    public var hasValidVersion: Bool { flags & 0x3 == Self.version }
    public var needsReply: Bool { flags & Self.needReplyFlag != 0 }
}

/// The payloads the back end reads, each checked against its exact size.
public enum Payload {
    /// A u64 (features, protocol features, log base, kick/call descriptors' index and flags).
    public static func u64(_ bytes: UnsafeRawBufferPointer) -> UInt64? {
        bytes.count >= 8 ? bytes.le64(0) : nil
    }

    /// The index and value of a vring state message (num, base, enable).
    public static func vringState(_ bytes: UnsafeRawBufferPointer) -> (index: UInt32, value: UInt32)? {
        bytes.count >= 8 ? (bytes.le32(0), bytes.le32(4)) : nil
    }

    /// Where a ring lives in the front end's address space.
    public struct VringAddress: Equatable, Sendable {
        public var index: UInt32
        public var flags: UInt32
        public var descriptors: UInt64
        public var used: UInt64
        public var available: UInt64
        public var log: UInt64

        public init(index: UInt32, flags: UInt32 = 0, descriptors: UInt64, used: UInt64, available: UInt64, log: UInt64 = 0) {
            self.index = index
            self.flags = flags
            self.descriptors = descriptors
            self.used = used
            self.available = available
            self.log = log
        }
    }

    public static func vringAddress(_ bytes: UnsafeRawBufferPointer) -> VringAddress? {
        guard bytes.count >= 40 else { return nil }
        return VringAddress(index: bytes.le32(0), flags: bytes.le32(4), descriptors: bytes.le64(8), used: bytes.le64(16),
                            available: bytes.le64(24), log: bytes.le64(32))
    }

    /// Kick, call and err messages: the ring index in the low byte; bit 8 says no descriptor
    /// comes with the message; other bits are reserved.
    public static let noFDFlag: UInt64 = 0x100
}

/// One region of the front end's memory table: guest physical address, size, the front end's
/// own virtual address for it, and the offset into the descriptor that maps it.
public struct RegionDescriptor: Equatable, Sendable {
    public var guestAddress: UInt64
    public var size: UInt64
    public var userAddress: UInt64
    public var mmapOffset: UInt64

    public init(guestAddress: UInt64, size: UInt64, userAddress: UInt64, mmapOffset: UInt64) {
        self.guestAddress = guestAddress
        self.size = size
        self.userAddress = userAddress
        self.mmapOffset = mmapOffset
    }
}

public enum MemoryTableMessage {
    public static let maximumRegions = 8

    /// The regions of a SET_MEM_TABLE payload: a count (≤ 8), padding, then 32 bytes each.
    /// Regions must be non-empty and neither their guest nor their user ranges may wrap or
    /// overlap another region's.
    public static func parse(_ bytes: UnsafeRawBufferPointer) -> [RegionDescriptor]? {
        guard bytes.count >= 8 else { return nil }
        let count = Int(bytes.le32(0))
        guard count >= 1, count <= maximumRegions, bytes.count >= 8 + count * 32 else { return nil }
        var regions: [RegionDescriptor] = []
        for index in 0..<count {
            let at = 8 + index * 32
            let region = RegionDescriptor(guestAddress: bytes.le64(at), size: bytes.le64(at + 8), userAddress: bytes.le64(at + 16), mmapOffset: bytes.le64(at + 24))
            guard region.size > 0,
                  region.guestAddress <= UInt64.max - region.size, region.userAddress <= UInt64.max - region.size,
                  region.mmapOffset <= UInt64.max - region.size
            else { return nil }
            for other in regions {
                let guestApart = region.guestAddress + region.size <= other.guestAddress || other.guestAddress + other.size <= region.guestAddress
                let userApart = region.userAddress + region.size <= other.userAddress || other.userAddress + other.size <= region.userAddress
                guard guestApart, userApart else { return nil }
            }
            regions.append(region)
        }
        return regions
    }

    /// The payload as a front end sends it (tests, the benchmark's generator).
    public static func encode(_ regions: [RegionDescriptor]) -> [UInt8] {
        var bytes = [UInt8]()
        bytes.appendLE32(UInt32(regions.count))
        bytes.appendLE32(0)
        for region in regions {
            bytes.appendLE64(region.guestAddress)
            bytes.appendLE64(region.size)
            bytes.appendLE64(region.userAddress)
            bytes.appendLE64(region.mmapOffset)
        }
        return bytes
    }
}

public enum MessageEncoding {
    /// A whole message: header then payload.
    public static func message(_ request: UInt32, flags: UInt32 = MessageHeader.version, payload: [UInt8] = []) -> [UInt8] {
        var bytes = [UInt8]()
        bytes.reserveCapacity(MessageHeader.size + payload.count)
        bytes.appendLE32(request)
        bytes.appendLE32(flags)
        bytes.appendLE32(UInt32(payload.count))
        bytes.append(contentsOf: payload)
        return bytes
    }

    /// The back end's reply to `request`: version and the reply flag, a u64 payload.
    public static func reply(_ request: UInt32, u64 value: UInt64) -> [UInt8] {
        var payload = [UInt8]()
        payload.appendLE64(value)
        return message(request, flags: MessageHeader.version | MessageHeader.replyFlag, payload: payload)
    }

    public static func reply(_ request: UInt32, vringIndex: UInt32, value: UInt32) -> [UInt8] {
        var payload = [UInt8]()
        payload.appendLE32(vringIndex)
        payload.appendLE32(value)
        return message(request, flags: MessageHeader.version | MessageHeader.replyFlag, payload: payload)
    }

    public static func u64(_ value: UInt64) -> [UInt8] {
        var bytes = [UInt8]()
        bytes.appendLE64(value)
        return bytes
    }

    public static func vringState(_ index: UInt32, _ value: UInt32) -> [UInt8] {
        var bytes = [UInt8]()
        bytes.appendLE32(index)
        bytes.appendLE32(value)
        return bytes
    }

    public static func vringAddress(_ address: Payload.VringAddress) -> [UInt8] {
        var bytes = [UInt8]()
        bytes.appendLE32(address.index)
        bytes.appendLE32(address.flags)
        bytes.appendLE64(address.descriptors)
        bytes.appendLE64(address.used)
        bytes.appendLE64(address.available)
        bytes.appendLE64(address.log)
        return bytes
    }
}

extension UnsafeRawBufferPointer {
    @inline(__always) func le16(_ at: Int) -> UInt16 { UInt16(littleEndian: loadUnaligned(fromByteOffset: at, as: UInt16.self)) }
    @inline(__always) func le32(_ at: Int) -> UInt32 { UInt32(littleEndian: loadUnaligned(fromByteOffset: at, as: UInt32.self)) }
    @inline(__always) func le64(_ at: Int) -> UInt64 { UInt64(littleEndian: loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
}

extension Array where Element == UInt8 {
    mutating func appendLE32(_ value: UInt32) {
        for shift in stride(from: 0, to: 32, by: 8) { append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
    }

    mutating func appendLE64(_ value: UInt64) {
        for shift in stride(from: 0, to: 64, by: 8) { append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }
}
