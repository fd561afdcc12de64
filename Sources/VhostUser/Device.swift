/// The back end's side of one vhost-user connection for a net device (one queue pair), as a
/// state machine over messages: the edge reads a message and its descriptors, `handle` checks
/// and applies it and says what the edge must do (map memory, watch a kick descriptor, answer).
///
/// Policy: anything outside the protocol as offered (an unknown request, a payload of the wrong
/// size, a feature not offered, a queue other than 0 and 1, descriptors where none belong, a
/// ring outside the memory table) is a `ProtocolError`; the edge then closes the connection and
/// keeps listening, so a restarted front end can connect again.
public final class Device {
    public enum Effect: Equatable {
        /// Map these regions from these descriptors (one each, in order), then `install` them;
        /// the edge closes the descriptors once mapped.
        case mapMemory([RegionDescriptor], fds: [Int32])
        /// Watch this descriptor for the driver's kicks (nil: none given), closing any earlier one.
        case setKick(queue: Int, fd: Int32?)
        /// Signal the driver through this descriptor (nil: the driver wants no interrupts).
        case setCall(queue: Int, fd: Int32?)
        case closeFD(Int32)
        /// The queue stopped (GET_VRING_BASE, reset): stop watching and signalling it.
        case queueStopped(Int)
    }

    public struct Outcome: Equatable {
        public var reply: [UInt8]?
        public var effects: [Effect] = []
    }

    public enum ProtocolError: Error, Equatable, Sendable {
        case badVersion, payloadTooLarge(UInt32), unknownRequest(UInt32), badPayload(UInt32)
        case wrongFDCount(UInt32), badQueueIndex(UInt32), unsupported(UInt32), unofferedFeatures(UInt64)
        case noMemoryTable, ring(RingError)

        public var label: String {
            switch self {
            case .badVersion: "message of another protocol version"
            case .payloadTooLarge(let size): "message payload of \(size) bytes"
            case .unknownRequest(let request): "unknown request \(request)"
            case .badPayload(let request): "malformed payload for request \(request)"
            case .wrongFDCount(let request): "wrong number of descriptors with request \(request)"
            case .badQueueIndex(let index): "queue \(index) does not exist"
            case .unsupported(let request): "request \(request) not offered"
            case .unofferedFeatures(let bits): "features not offered (0x\(String(bits, radix: 16)))"
            case .noMemoryTable: "ring started before a memory table"
            case .ring(let error): error.label
            }
        }
    }

    struct QueueSetup {
        var size: UInt16 = 0
        var address: Payload.VringAddress?
        var base: UInt16 = 0
        var started = false
        var enabled = false
    }

    /// What the frame path asks for every frame, kept apart from the protocol state (no
    /// exclusivity checks per frame); brought up to date after every message.
    struct Hot {
        var running = (false, false)
        var headerSize = 10
        var mergeable = false
        var takesOffloads = false
        var memory: Unmanaged<GuestMemory>?
    }

    public private(set) var features: VirtioFeatures = []
    public private(set) var protocolFeatures: ProtocolFeatures = []
    public private(set) var memory = GuestMemory()
    public let receiveQueue: SplitQueue
    public let transmitQueue: SplitQueue
    public var queues: [SplitQueue] { [receiveQueue, transmitQueue] }
    var setups = [QueueSetup(), QueueSetup()]
    private let hot: UnsafeMutablePointer<Hot>

    public init(maximumSegments: Int = 256) {
        receiveQueue = SplitQueue(maximumSegments: maximumSegments)
        transmitQueue = SplitQueue(maximumSegments: maximumSegments)
        hot = .allocate(capacity: 1)
        hot.initialize(to: Hot())
    }

    deinit {
        hot.deinitialize(count: 1)
        hot.deallocate()
    }

    /// Back to the state of a new connection (the edge keeps one device per port).
    public func reset() {
        features = []
        protocolFeatures = []
        memory = GuestMemory()
        setups = [QueueSetup(), QueueSetup()]
        receiveQueue.reset()
        transmitQueue.reset()
        refresh()
    }

    private func refresh() {
        hot.pointee = Hot(
            running: (setups[0].started && setups[0].enabled && receiveQueue.isReady, setups[1].started && setups[1].enabled && transmitQueue.isReady),
            headerSize: features.netHeaderSize, mergeable: features.contains(.mergeableReceiveBuffers),
            takesOffloads: features.guestTakesOffloads, memory: Unmanaged.passUnretained(memory))
    }

    /// Runs `body` with the memory table, without reference counting (the device holds it).
    @inline(__always)
    public func withMemory<R>(_ body: (GuestMemory) throws(RingError) -> R) throws(RingError) -> R? {
        guard let memory = hot.pointee.memory else { return nil }
        let result: Result<R, RingError> = memory._withUnsafeGuaranteedRef { table in
            do throws(RingError) {
                return .success(try body(table))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// The queue moves frames: its ring was started (a kick descriptor came) and is enabled.
    @inline(__always)
    public func isRunning(_ queue: Int) -> Bool {
        queue == 0 ? hot.pointee.running.0 : hot.pointee.running.1
    }

    public var headerSize: Int { hot.pointee.headerSize }
    public var mergeableBuffers: Bool { hot.pointee.mergeable }
    public var guestTakesOffloads: Bool { hot.pointee.takesOffloads }

    /// Applies one message. `fds` are the descriptors that came with it; on a thrown error the
    /// edge closes them all, on success those not handed over in an effect are closed by it too.
    public func handle(_ header: MessageHeader, payload: UnsafeRawBufferPointer, fds: [Int32]) throws(ProtocolError) -> Outcome {
        guard header.hasValidVersion else { throw .badVersion }
        guard header.size <= MessageHeader.maximumPayload, payload.count == Int(header.size) else { throw .payloadTooLarge(header.size) }
        guard let request = Request(rawValue: header.request) else { throw .unknownRequest(header.request) }
        guard fds.count <= request.maximumFDs else { throw .wrongFDCount(header.request) }
        defer { refresh() }
        var outcome = try apply(request, header.request, payload, fds)
        if outcome.reply == nil, !request.expectsReply, header.needsReply, protocolFeatures.contains(.replyAck) {
            outcome.reply = MessageEncoding.reply(header.request, u64: 0)
        }
        return outcome
    }

    private func apply(_ request: Request, _ raw: UInt32, _ payload: UnsafeRawBufferPointer, _ fds: [Int32]) throws(ProtocolError) -> Outcome {
        func u64() throws(ProtocolError) -> UInt64 {
            guard let value = Payload.u64(payload) else { throw .badPayload(raw) }
            return value
        }
        func state() throws(ProtocolError) -> (queue: Int, value: UInt32) {
            guard let (index, value) = Payload.vringState(payload) else { throw .badPayload(raw) }
            guard index < 2 else { throw .badQueueIndex(index) }
            return (Int(index), value)
        }
        switch request {
        case .getFeatures:
            return Outcome(reply: MessageEncoding.reply(raw, u64: VirtioFeatures.offered.rawValue))
        case .setFeatures:
            let value = try u64()
            guard value & ~VirtioFeatures.offered.rawValue == 0 else { throw .unofferedFeatures(value & ~VirtioFeatures.offered.rawValue) }
            features = VirtioFeatures(rawValue: value)
            for queue in queues {
                queue.eventIndex = features.contains(.eventIndex)
                queue.indirectAllowed = features.contains(.indirectDescriptors)
            }
            return Outcome()
        case .getProtocolFeatures:
            return Outcome(reply: MessageEncoding.reply(raw, u64: ProtocolFeatures.offered.rawValue))
        case .setProtocolFeatures:
            let value = try u64()
            guard value & ~ProtocolFeatures.offered.rawValue == 0 else { throw .unofferedFeatures(value & ~ProtocolFeatures.offered.rawValue) }
            protocolFeatures = ProtocolFeatures(rawValue: value)
            return Outcome()
        case .setOwner, .sendRARP, .netSetMTU:
            return Outcome()
        case .resetOwner, .resetDevice:
            return Outcome(effects: (0..<2).compactMap { stop($0) ? .queueStopped($0) : nil })
        case .getQueueNum:
            return Outcome(reply: MessageEncoding.reply(raw, u64: 1))
        case .setMemTable:
            guard let regions = MemoryTableMessage.parse(payload) else { throw .badPayload(raw) }
            guard regions.count == fds.count else { throw .wrongFDCount(raw) }
            return Outcome(effects: [.mapMemory(regions, fds: fds)])
        case .setVringNum:
            let (queue, value) = try state()
            guard value > 0, value <= UInt32(SplitQueue.maximumSize), value & (value - 1) == 0 else { throw .ring(.badRingSize) }
            setups[queue].size = UInt16(value)
            return Outcome()
        case .setVringAddr:
            guard let address = Payload.vringAddress(payload) else { throw .badPayload(raw) }
            guard address.index < 2 else { throw .badQueueIndex(address.index) }
            let queue = Int(address.index)
            setups[queue].address = address
            if setups[queue].started { try start(queue, base: queues[queue].lastAvailable) }
            return Outcome()
        case .setVringBase:
            let (queue, value) = try state()
            guard value <= 0xFFFF else { throw .badPayload(raw) }
            setups[queue].base = UInt16(value)
            return Outcome()
        case .getVringBase:
            let (queue, _) = try state()
            let base = setups[queue].started ? queues[queue].lastAvailable : setups[queue].base
            let stopped = stop(queue)
            setups[queue].base = base
            return Outcome(reply: MessageEncoding.reply(raw, vringIndex: UInt32(queue), value: UInt32(base)),
                           effects: stopped ? [.queueStopped(queue)] : [])
        case .setVringKick, .setVringCall, .setVringErr:
            let value = try u64()
            guard value & ~(0xFF | Payload.noFDFlag) == 0 else { throw .badPayload(raw) }
            let queue = Int(value & 0xFF)
            guard queue < 2 else { throw .badQueueIndex(UInt32(queue)) }
            let noFD = value & Payload.noFDFlag != 0
            guard fds.count == (noFD ? 0 : 1) else { throw .wrongFDCount(raw) }
            let fd = fds.first
            switch request {
            case .setVringKick:
                // Polling mode (no kick descriptor) is not offered: vnetd waits for kicks.
                guard fd != nil else { throw .wrongFDCount(raw) }
                try start(queue, base: setups[queue].base)
                setups[queue].started = true
                if !protocolFeaturesNegotiated { setups[queue].enabled = true }
                return Outcome(effects: [.setKick(queue: queue, fd: fd)])
            case .setVringCall:
                return Outcome(effects: [.setCall(queue: queue, fd: fd)])
            default:
                return Outcome(effects: fd.map { [.closeFD($0)] } ?? [])
            }
        case .setVringEnable:
            let (queue, value) = try state()
            guard value <= 1 else { throw .badPayload(raw) }
            setups[queue].enabled = value == 1
            return Outcome()
        default:
            throw .unsupported(raw)
        }
    }

    private var protocolFeaturesNegotiated: Bool { features.contains(.protocolFeatures) }

    private func start(_ queue: Int, base: UInt16) throws(ProtocolError) {
        guard !memory.isEmpty else { throw .noMemoryTable }
        guard let address = setups[queue].address, setups[queue].size > 0 else { throw .ring(.ringOutsideMemory) }
        do {
            try queues[queue].configure(size: setups[queue].size, address: address, memory: memory, base: base)
        } catch {
            throw .ring(error)
        }
    }

    /// Returns whether the queue was running.
    private func stop(_ queue: Int) -> Bool {
        let wasStarted = setups[queue].started
        setups[queue].started = false
        queues[queue].reset()
        return wasStarted
    }

    /// The regions of the last memory table, mapped by the edge. Started rings are found again
    /// in the new table (the front end may resend it while running).
    public func install(_ memory: GuestMemory) throws(ProtocolError) {
        self.memory = memory
        defer { refresh() }
        for queue in 0..<2 where setups[queue].started {
            try start(queue, base: queues[queue].lastAvailable)
        }
    }
}
