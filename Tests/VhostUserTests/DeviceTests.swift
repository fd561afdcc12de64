import Testing
import VhostUser

/// The protocol as QEMU 7.2 drives a net device, over plain memory (no sockets, no descriptors
/// other than made-up numbers: the pure device only passes them on).
@Suite struct DeviceTests {
    func send(_ device: Device, _ request: Request, flags: UInt32 = MessageHeader.version, _ payload: [UInt8] = [], fds: [Int32] = []) throws -> Device.Outcome {
        let header = MessageHeader(request: request.rawValue, flags: flags, size: UInt32(payload.count))
        return try payload.withUnsafeBytes { try device.handle(header, payload: $0, fds: fds) }
    }

    func replyValue(_ outcome: Device.Outcome) -> UInt64? {
        guard let reply = outcome.reply, reply.count == 20 else { return nil }
        return reply.withUnsafeBytes { Payload.u64(UnsafeRawBufferPointer(rebasing: $0[12...])) }
    }

    /// The whole start-up of QEMU's vhost-user net client: features, owner, protocol features,
    /// memory table, both rings, enable. Returns the running device and its guest memory.
    func started(features: VirtioFeatures = VirtioFeatures.offered) throws -> (Device, TestGuest) {
        let device = Device()
        let guest = TestGuest()
        _ = try send(device, .setOwner)
        #expect(replyValue(try send(device, .getFeatures)) == VirtioFeatures.offered.rawValue)
        #expect(replyValue(try send(device, .getProtocolFeatures)) == ProtocolFeatures.offered.rawValue)
        _ = try send(device, .setProtocolFeatures, MessageEncoding.u64(ProtocolFeatures.replyAck.rawValue))
        _ = try send(device, .setFeatures, MessageEncoding.u64(features.rawValue))
        let table = try send(device, .setMemTable, MemoryTableMessage.encode([guest.region]), fds: [40])
        #expect(table.effects == [.mapMemory([guest.region], fds: [40])])
        try device.install(guest.memory)
        for queue in 0..<2 {
            _ = try send(device, .setVringNum, MessageEncoding.vringState(UInt32(queue), 256))
            _ = try send(device, .setVringBase, MessageEncoding.vringState(UInt32(queue), 0))
            _ = try send(device, .setVringAddr, MessageEncoding.vringAddress(guest.address(queue: queue)))
            let kick = try send(device, .setVringKick, MessageEncoding.u64(UInt64(queue)), fds: [Int32(50 + queue)])
            #expect(kick.effects == [.setKick(queue: queue, fd: Int32(50 + queue))])
            let call = try send(device, .setVringCall, MessageEncoding.u64(UInt64(queue)), fds: [Int32(60 + queue)])
            #expect(call.effects == [.setCall(queue: queue, fd: Int32(60 + queue))])
            #expect(!device.isRunning(queue))  // protocol features negotiated: rings start disabled
            _ = try send(device, .setVringEnable, MessageEncoding.vringState(UInt32(queue), 1))
            #expect(device.isRunning(queue))
        }
        return (device, guest)
    }

    @Test func startUpAsQEMUDoesIt() throws {
        let (device, _) = try started()
        #expect(device.headerSize == 12 && device.mergeableBuffers)
        #expect(device.queues[1].eventIndex && device.queues[1].indirectAllowed)
    }

    @Test func replyAckAnswersZeroWhenAsked() throws {
        let (device, _) = try started()
        let ack = try send(device, .setVringEnable, flags: MessageHeader.version | MessageHeader.needReplyFlag, MessageEncoding.vringState(0, 1))
        #expect(replyValue(ack) == 0)
        #expect(try send(device, .setVringEnable, MessageEncoding.vringState(0, 1)).reply == nil)
    }

    @Test func getVringBaseStopsTheRingAndReturnsWhereItWas() throws {
        let (device, guest) = try started()
        let table = guest.offset(queue: 1)
        guest.descriptor(table: table, 0, address: TestGuest.gpa(0x20000), length: 60, flags: 0)
        guest.makeAvailable(queue: 1, head: 0, ringSize: 256)
        _ = try device.queues[1].nextChain(memory: device.memory, writable: false)
        let outcome = try send(device, .getVringBase, MessageEncoding.vringState(1, 0))
        #expect(outcome.effects == [.queueStopped(1)])
        #expect(outcome.reply == MessageEncoding.reply(Request.getVringBase.rawValue, vringIndex: 1, value: 1))
        #expect(!device.isRunning(1) && device.isRunning(0))
    }

    @Test func withoutProtocolFeaturesARingRunsOnceKicked() throws {
        let device = Device()
        let guest = TestGuest()
        _ = try send(device, .setFeatures, MessageEncoding.u64(VirtioFeatures.version1.rawValue))
        _ = try send(device, .setMemTable, MemoryTableMessage.encode([guest.region]), fds: [3])
        try device.install(guest.memory)
        _ = try send(device, .setVringNum, MessageEncoding.vringState(0, 64))
        _ = try send(device, .setVringAddr, MessageEncoding.vringAddress(guest.address(queue: 0)))
        _ = try send(device, .setVringKick, MessageEncoding.u64(0), fds: [4])
        #expect(device.isRunning(0))
        #expect(!device.mergeableBuffers && device.headerSize == 12)
    }

    @Test func everyBrokenMessageIsAProtocolError() throws {
        let (device, guest) = try started()
        func error(_ request: UInt32, flags: UInt32 = MessageHeader.version, _ payload: [UInt8] = [], size: UInt32? = nil, fds: [Int32] = []) -> Device.ProtocolError? {
            let header = MessageHeader(request: request, flags: flags, size: size ?? UInt32(payload.count))
            do {
                _ = try payload.withUnsafeBytes { try device.handle(header, payload: $0, fds: fds) }
                return nil
            } catch { return error as? Device.ProtocolError }
        }
        #expect(error(Request.getFeatures.rawValue, flags: 2) == .badVersion)
        #expect(error(Request.setFeatures.rawValue, [UInt8](repeating: 0, count: 8), size: 5000) == .payloadTooLarge(5000))
        #expect(error(999) == .unknownRequest(999))
        #expect(error(Request.setFeatures.rawValue, [1, 2]) == .badPayload(Request.setFeatures.rawValue))
        #expect(error(Request.setFeatures.rawValue, MessageEncoding.u64(VirtioFeatures.logAll.rawValue)) == .unofferedFeatures(VirtioFeatures.logAll.rawValue))
        #expect(error(Request.setProtocolFeatures.rawValue, MessageEncoding.u64(1)) == .unofferedFeatures(1))
        #expect(error(Request.setOwner.rawValue, fds: [7]) == .wrongFDCount(Request.setOwner.rawValue))
        #expect(error(Request.setVringKick.rawValue, MessageEncoding.u64(0), fds: []) == .wrongFDCount(Request.setVringKick.rawValue))
        #expect(error(Request.setVringCall.rawValue, MessageEncoding.u64(0), fds: [1, 2]) == .wrongFDCount(Request.setVringCall.rawValue))
        #expect(error(Request.setVringCall.rawValue, MessageEncoding.u64(2), fds: [1]) == .badQueueIndex(2))
        #expect(error(Request.setVringCall.rawValue, MessageEncoding.u64(0x200), fds: [1]) == .badPayload(Request.setVringCall.rawValue))
        #expect(error(Request.setVringNum.rawValue, MessageEncoding.vringState(0, 300)) == .ring(.badRingSize))
        #expect(error(Request.setVringNum.rawValue, MessageEncoding.vringState(3, 256)) == .badQueueIndex(3))
        #expect(error(Request.setVringBase.rawValue, MessageEncoding.vringState(0, 0x10000)) == .badPayload(Request.setVringBase.rawValue))
        #expect(error(Request.setLogBase.rawValue, MessageEncoding.u64(0), fds: [9]) == .unsupported(Request.setLogBase.rawValue))
        // A memory table: empty, nine regions, overlapping, wrapping, descriptors not one per region.
        #expect(error(Request.setMemTable.rawValue, [0, 0, 0, 0, 0, 0, 0, 0]) == .badPayload(Request.setMemTable.rawValue))
        let nine = [RegionDescriptor](repeating: guest.region, count: 9)
        #expect(error(Request.setMemTable.rawValue, MemoryTableMessage.encode(nine), fds: [1]) == .badPayload(Request.setMemTable.rawValue))
        let overlap = [guest.region, RegionDescriptor(guestAddress: TestGuest.guestBase + 4096, size: 4096, userAddress: 0x1000, mmapOffset: 0)]
        #expect(error(Request.setMemTable.rawValue, MemoryTableMessage.encode(overlap), fds: [1, 2]) == .badPayload(Request.setMemTable.rawValue))
        let wrapping = [RegionDescriptor(guestAddress: UInt64.max - 10, size: 4096, userAddress: 0, mmapOffset: 0)]
        #expect(error(Request.setMemTable.rawValue, MemoryTableMessage.encode(wrapping), fds: [1]) == .badPayload(Request.setMemTable.rawValue))
        #expect(error(Request.setMemTable.rawValue, MemoryTableMessage.encode([guest.region]), fds: []) == .wrongFDCount(Request.setMemTable.rawValue))
        // A ring address outside the memory table fails when the ring starts.
        var outside = guest.address(queue: 0)
        outside.descriptors = 0x1000
        #expect(error(Request.setVringAddr.rawValue, MessageEncoding.vringAddress(outside)) == .ring(.ringOutsideMemory))
    }

    @Test func kickBeforeAnyMemoryTableIsRefused() throws {
        let device = Device()
        _ = try send(device, .setVringNum, MessageEncoding.vringState(0, 64))
        #expect(throws: Device.ProtocolError.noMemoryTable) { try send(device, .setVringKick, MessageEncoding.u64(0), fds: [4]) }
    }

    @Test func memoryTranslationStaysInsideOneRegion() {
        let guest = TestGuest(bytes: 8192)
        let memory = guest.memory
        #expect(memory.guest(TestGuest.guestBase, length: 8192) == guest.memoryBytes)
        #expect(memory.guest(TestGuest.guestBase + 8191, length: 1) == guest.memoryBytes + 8191)
        #expect(memory.guest(TestGuest.guestBase + 8191, length: 2) == nil)
        #expect(memory.guest(TestGuest.guestBase - 1, length: 1) == nil)
        #expect(memory.guest(TestGuest.guestBase + 8192, length: 0) == nil)
        #expect(memory.guest(UInt64.max, length: UInt64.max) == nil)
        #expect(memory.user(TestGuest.userBase + 100, length: 10) == guest.memoryBytes + 100)
        #expect(memory.user(TestGuest.guestBase, length: 10) == nil)
    }

    @Test func headerRoundTrips() {
        let bytes = MessageEncoding.message(Request.setVringNum.rawValue, payload: MessageEncoding.vringState(1, 256))
        let header = bytes.withUnsafeBytes { MessageHeader($0) }
        #expect(header == MessageHeader(request: 8, flags: 1, size: 8))
        #expect(bytes.withUnsafeBytes { MessageHeader(UnsafeRawBufferPointer(rebasing: $0[0..<11])) } == nil)
    }
}
