import FuzzDriver
import VhostUser

/// A hostile guest's rings: the input is the guest's memory (descriptor table, available ring,
/// indirect tables, all of it), its first bytes also choose the ring size, the features and the
/// direction. Walking chains, receiving into them, signalling and arming kicks must never touch
/// memory outside the guest's region, never loop without end, and report a bad ring as an error.
/// The rest of the input is also fed to the protocol state machine as messages.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    guard input.count >= 4 else { return 0 }
    let memorySize = 16 << 10
    let memory = UnsafeMutableRawPointer.allocate(byteCount: memorySize, alignment: 4096)
    defer { memory.deallocate() }
    memory.initializeMemory(as: UInt8.self, repeating: 0, count: memorySize)
    memory.copyMemory(from: data, byteCount: min(size, memorySize))
    let region = RegionDescriptor(guestAddress: 0x1000, size: UInt64(memorySize), userAddress: 0x10_0000, mmapOffset: 0)
    let guest = GuestMemory(regions: [GuestMemory.Region(region, base: memory)])
    let ringSize = UInt16(1) << UInt16(input[0] % 8)
    let queue = SplitQueue(maximumSegments: 64)
    queue.eventIndex = input[1] & 1 != 0
    queue.indirectAllowed = input[1] & 2 != 0
    let writable = input[1] & 4 != 0
    let address = Payload.VringAddress(index: 0, descriptors: 0x10_0000, used: 0x10_0C00, available: 0x10_0800)
    do {
        try queue.configure(size: ringSize, address: address, memory: guest, base: UInt16(input[2]))
    } catch {
        preconditionFailure("a ring inside memory was refused: \(error)")
    }
    let low = UInt(bitPattern: memory), high = low + UInt(memorySize)
    for _ in 0..<64 {
        do {
            if input[3] & 1 == 0 {
                guard let head = try queue.nextChain(memory: guest, writable: writable) else { break }
                precondition(head < ringSize)
                precondition(queue.segmentCount <= 64)
                for index in 0..<queue.segmentCount {
                    let segment = queue.segment(index)
                    let start = UInt(bitPattern: segment.pointer)
                    precondition(segment.length > 0 && start >= low && start + UInt(segment.length) <= high, "segment outside guest memory")
                }
                queue.addUsed(head: head, length: queue.chainLength)
            } else {
                let frame = [UInt8](repeating: 0x5A, count: 60 + Int(input[2]) * 8)
                let result = try frame.withUnsafeBytes {
                    try NetQueue.deliver(header: nil, headerSize: 12, frame: $0, to: queue, memory: guest, mergeable: input[1] & 8 != 0)
                }
                guard case .delivered = result else { break }
            }
            queue.publishUsed()
            _ = queue.needsSignal()
            _ = try queue.armKick()
        } catch {
            break
        }
    }
    // The same bytes as a stream of front-end messages.
    let device = Device(maximumSegments: 16)
    var offset = 4
    while offset + MessageHeader.size <= input.count {
        guard let header = MessageHeader(UnsafeRawBufferPointer(rebasing: input[offset..<offset + MessageHeader.size])) else { break }
        let end = offset + MessageHeader.size + Int(min(header.size, UInt32(input.count)))
        guard end <= input.count else { break }
        do {
            let outcome = try device.handle(header, payload: UnsafeRawBufferPointer(rebasing: input[offset + MessageHeader.size..<end]), fds: [])
            precondition(outcome.reply.map { $0.count >= MessageHeader.size } ?? true)
        } catch {
            break
        }
        offset = end
    }
    return 0
}

@_cdecl("FuzzVhostRing_main")
public func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    vnetd_run_fuzzer(argc, argv) { data, size in
        guard let data else { return 0 }
        return fuzz(data, size)
    }
}
