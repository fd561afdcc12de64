import CTestNet
import Foundation
import Synchronization
import VhostUser

/// A vhost-user front end written for the tests: it plays QEMU with a virtio-net guest. Its
/// guest memory is a memfd shared with vnetd; it negotiates like QEMU 7.2, lays out both split
/// rings in that memory, posts receive buffers, transmits frames and kicks through eventfds.
public final class VhostUserFrontEnd {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public static let memorySize = 4 << 20
    public static let ringSize = 256
    public static let receiveBufferSize = 2048
    /// Guest physical addresses start at 0; the front end's own addresses are its mapping's.
    public let socket: Int32
    public let memfd: Int32
    public let memory: UnsafeMutableRawPointer
    public let kicks: [Int32]
    public let calls: [Int32]
    public let features: VirtioFeatures
    private var transmitAvailable: UInt16 = 0
    private var transmitSlot = 0
    private var receiveSeen: UInt16 = 0
    private var receiveAvailable: UInt16 = 0

    /// `sealed`: the guest memory is sealed against shrinking, as QEMU's memfd backend does (seal=on).
    public init(path: String, features: VirtioFeatures = VirtioFeatures.offered, sealed: Bool = true) throws {
        self.features = features
        var connected: Int32 = -1
        for _ in 0..<100 {
            connected = testnet_unix_connect(path)
            if connected >= 0 { break }
            usleep(20_000)
        }
        guard connected >= 0 else { throw Failure(description: "cannot connect to \(path)") }
        socket = connected
        var mapping: UnsafeMutableRawPointer?
        memfd = testnet_memfd("guest", Self.memorySize, sealed ? 1 : 0, &mapping)
        guard memfd >= 0, let mapping else { throw Failure(description: "memfd failed") }
        memory = mapping
        kicks = [testnet_eventfd(), testnet_eventfd()]
        calls = [testnet_eventfd(), testnet_eventfd()]
    }

    deinit {
        close()
        munmap(memory, Self.memorySize)
        Glibc.close(memfd)
        (kicks + calls).forEach { _ = Glibc.close($0) }
    }

    public func close() {
        _ = Glibc.shutdown(socket, Int32(SHUT_RDWR))
    }

    public var userBase: UInt64 { UInt64(UInt(bitPattern: memory)) }

    /// Ring q: descriptors at q * 0x8000, available ring at +0x2000, used ring at +0x4000.
    public func ringOffset(_ queue: Int) -> Int { queue * 0x8000 }

    // MARK: messages

    public func send(_ request: Request, _ payload: [UInt8] = [], fds: [Int32] = [], needReply: Bool = false) throws {
        let flags = MessageHeader.version | (needReply ? MessageHeader.needReplyFlag : 0)
        try sendRaw(MessageEncoding.message(request.rawValue, flags: flags, payload: payload), fds: fds)
        if needReply {
            let reply = try receiveReply()
            guard reply.count == 8, reply.allSatisfy({ $0 == 0 }) else { throw Failure(description: "\(request) refused") }
        }
    }

    public func sendRaw(_ bytes: [UInt8], fds: [Int32] = []) throws {
        let sent = bytes.withUnsafeBytes { raw in fds.withUnsafeBufferPointer { testnet_send_with_fds(socket, raw.baseAddress, raw.count, $0.baseAddress, Int32(fds.count)) } }
        guard sent == bytes.count else { throw Failure(description: "send failed: \(sent)") }
    }

    public func receiveReply() throws -> [UInt8] {
        var header = [UInt8](repeating: 0, count: 12)
        guard header.withUnsafeMutableBytes({ testnet_recv_exact(socket, $0.baseAddress, 12, 2000) }) == 12,
              let parsed = header.withUnsafeBytes({ MessageHeader($0) }), parsed.size <= 64
        else { throw Failure(description: "no reply") }
        var payload = [UInt8](repeating: 0, count: Int(parsed.size))
        guard payload.withUnsafeMutableBytes({ testnet_recv_exact(socket, $0.baseAddress, $0.count, 2000) }) == payload.count else { throw Failure(description: "short reply") }
        return payload
    }

    /// True when vnetd closed the connection within `milliseconds` (end of stream, or a reset
    /// when it left part of our message unread).
    public func wasDisconnected(within milliseconds: Int32 = 2000) -> Bool {
        var byte: UInt8 = 0
        let result = testnet_recv_exact(socket, &byte, 1, milliseconds)
        return result == 0 || result == -Int(ECONNRESET)
    }

    /// QEMU 7.2's start-up of a vhost-user net device, every step acknowledged (REPLY_ACK).
    public func start() throws {
        try send(.setOwner)
        try send(.getFeatures)
        let offered = try receiveReply().withUnsafeBytes { Payload.u64($0) ?? 0 }
        try send(.getProtocolFeatures)
        _ = try receiveReply()
        try send(.setProtocolFeatures, MessageEncoding.u64(ProtocolFeatures.replyAck.rawValue))
        try send(.setFeatures, MessageEncoding.u64(features.rawValue & offered), needReply: true)
        let region = RegionDescriptor(guestAddress: 0, size: UInt64(Self.memorySize), userAddress: userBase, mmapOffset: 0)
        try send(.setMemTable, MemoryTableMessage.encode([region]), fds: [memfd], needReply: true)
        for queue in 0..<2 {
            let base = userBase + UInt64(ringOffset(queue))
            try send(.setVringNum, MessageEncoding.vringState(UInt32(queue), UInt32(Self.ringSize)), needReply: true)
            try send(.setVringBase, MessageEncoding.vringState(UInt32(queue), 0), needReply: true)
            try send(.setVringAddr, MessageEncoding.vringAddress(Payload.VringAddress(index: UInt32(queue), descriptors: base, used: base + 0x4000, available: base + 0x2000)), needReply: true)
            try send(.setVringKick, MessageEncoding.u64(UInt64(queue)), fds: [kicks[queue]], needReply: true)
            try send(.setVringCall, MessageEncoding.u64(UInt64(queue)), fds: [calls[queue]], needReply: true)
            try send(.setVringEnable, MessageEncoding.vringState(UInt32(queue), 1), needReply: true)
        }
    }

    // MARK: memory

    public func store16(_ value: UInt16, _ offset: Int) { memory.storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt16.self) }
    public func store32(_ value: UInt32, _ offset: Int) { memory.storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt32.self) }
    public func store64(_ value: UInt64, _ offset: Int) { memory.storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt64.self) }
    public func load16(_ offset: Int) -> UInt16 { UInt16(littleEndian: memory.loadUnaligned(fromByteOffset: offset, as: UInt16.self)) }
    public func load32(_ offset: Int) -> UInt32 { UInt32(littleEndian: memory.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }

    public func descriptor(queue: Int, _ index: Int, address: UInt64, length: UInt32, flags: UInt16, next: UInt16 = 0) {
        let at = ringOffset(queue) + 16 * index
        store64(address, at)
        store32(length, at + 8)
        store16(flags, at + 12)
        store16(next, at + 14)
    }

    private func publish(queue: Int, head: UInt16, index: inout UInt16) {
        let available = ringOffset(queue) + 0x2000
        store16(head, available + 4 + 2 * (Int(index) % Self.ringSize))
        index &+= 1
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        store16(index, available + 2)
        atomicMemoryFence(ordering: .sequentiallyConsistent)
    }

    // MARK: frames

    /// Posts `count` receive buffers of 2,048 bytes, one descriptor each (mergeable buffers).
    public func postReceiveBuffers(_ count: Int = 128) {
        for _ in 0..<count {
            let slot = Int(receiveAvailable) % Self.ringSize
            descriptor(queue: 0, slot, address: UInt64(0x100000 + slot * Self.receiveBufferSize), length: UInt32(Self.receiveBufferSize), flags: 2)
            publish(queue: 0, head: UInt16(slot), index: &receiveAvailable)
        }
    }

    /// Sends one frame behind its virtio-net header (12 bytes; zeros: a plain frame) as a chain
    /// of two descriptors, and kicks.
    public func transmit(_ frame: [UInt8], header: [UInt8] = [UInt8](repeating: 0, count: 12)) {
        // A slot is written again only once the device gave it back.
        let deadline = Date().addingTimeInterval(2)
        while transmitAvailable &- transmitUsed >= 16 && Date() < deadline { usleep(500) }
        let slot = transmitSlot % 16
        transmitSlot += 1
        let at = 0x200000 + slot * 0x12000
        header.withUnsafeBytes { (memory + at).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        frame.withUnsafeBytes { (memory + at + 64).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        let first = (slot * 2) % Self.ringSize
        descriptor(queue: 1, first, address: UInt64(at), length: UInt32(header.count), flags: 1, next: UInt16(first + 1))
        descriptor(queue: 1, first + 1, address: UInt64(at + 64), length: UInt32(frame.count), flags: 0)
        publish(queue: 1, head: UInt16(first), index: &transmitAvailable)
        _ = testnet_eventfd_kick(kicks[1])
    }

    /// Makes a hand-written chain available on the transmit queue (head `head`) and kicks.
    public func transmitChain(head: UInt16) {
        publish(queue: 1, head: head, index: &transmitAvailable)
        _ = testnet_eventfd_kick(kicks[1])
    }

    /// Chains the device returned on the transmit queue so far.
    public var transmitUsed: UInt16 { load16(ringOffset(1) + 0x4000 + 2) }

    /// Frames the device wrote into receive buffers, with their headers (joined across merged
    /// buffers by `num_buffers`), waiting up to `milliseconds` for at least `count`.
    public func receive(atLeast count: Int = 1, milliseconds: Int = 2000) -> [(header: [UInt8], frame: [UInt8])] {
        var frames: [(header: [UInt8], frame: [UInt8])] = []
        let deadline = Date().addingTimeInterval(Double(milliseconds) / 1000)
        let used = ringOffset(0) + 0x4000
        var pendingBytes: [UInt8] = []
        var buffersLeft = 0
        while frames.count < count && Date() < deadline {
            atomicMemoryFence(ordering: .sequentiallyConsistent)
            let index = load16(used + 2)
            if index == receiveSeen {
                usleep(1000)
                continue
            }
            while receiveSeen != index {
                let element = used + 4 + 8 * (Int(receiveSeen) % Self.ringSize)
                let id = Int(load32(element)), length = Int(load32(element + 4))
                let bytes = Array(UnsafeRawBufferPointer(start: memory + 0x100000 + id * Self.receiveBufferSize, count: min(length, Self.receiveBufferSize)))
                receiveSeen &+= 1
                if buffersLeft == 0 {
                    buffersLeft = bytes.count >= 12 ? Int(bytes[10]) | Int(bytes[11]) << 8 : 1
                    pendingBytes = bytes
                } else {
                    pendingBytes += bytes
                }
                buffersLeft -= 1
                if buffersLeft <= 0 {
                    buffersLeft = 0
                    frames.append((Array(pendingBytes.prefix(12)), Array(pendingBytes.dropFirst(12))))
                }
            }
        }
        return frames
    }

    /// The driver's interrupt count on a queue since the last look.
    public func interrupts(_ queue: Int) -> UInt64 { testnet_eventfd_take(calls[queue]) }
}
