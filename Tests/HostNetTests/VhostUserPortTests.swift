import Foundation
import Logging
import Packets
import Switching
import Testing
import TestSupport
import VhostUser
@testable import HostNet

/// vhost-user ports on a real event loop and switch, driven by the test front end over real
/// unix sockets, memfd memory and eventfds (no privileges needed).
@Suite("vhost-user ports", .serialized)
struct VhostUserPortTests {
    /// A switch with vhost-user ports, built and used on the loop's thread.
    final class Rig: @unchecked Sendable {
        let loop: EventLoop
        let fabric = VirtualSwitch(name: "test")
        var ports: [VhostUserPort] = []
        let folder: String

        init(ports count: Int) throws {
            folder = NSTemporaryDirectory() + "vhost-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            loop = try EventLoop(logger: Logger(label: "test"))
            loop.start(name: "vhost-test")
            let failure: SystemError? = loop.sync { [self] in
                do throws(SystemError) {
                    for index in 0..<count {
                        let port = try VhostUserPort(id: PortID(UInt32(index + 1)), loop: loop, path: "\(folder)/\(index).vhost")
                        fabric.attach(port.id, sink: port)
                        port.fabric = fabric
                        ports.append(port)
                    }
                    return nil
                } catch {
                    return error
                }
            }
            if let failure { throw failure }
        }

        func path(_ index: Int) -> String { "\(folder)/\(index).vhost" }

        func protocolErrors(_ index: Int) -> UInt64 { loop.sync { [self] in ports[index].protocolErrors } }
        func lastError(_ index: Int) -> String? { loop.sync { [self] in ports[index].lastError } }
        func isConnected(_ index: Int) -> Bool { loop.sync { [self] in ports[index].isConnected } }
        func counters(_ index: Int) -> PortCounters? { loop.sync { [self] in fabric.counters(of: ports[index].id) } }

        func stop() {
            loop.sync { [self] in ports.forEach { $0.close() } }
            loop.stop()
            try? FileManager.default.removeItem(atPath: folder)
        }
    }

    static func mac(_ last: UInt8) -> [UInt8] { [0x02, 0, 0, 0, 0, last] }

    static func frame(from source: UInt8, to destination: UInt8, length: Int = 100, fill: UInt8 = 0xA5) -> [UInt8] {
        mac(destination) + mac(source) + [0x88, 0xB5] + [UInt8](repeating: fill, count: length - 14)
    }

    /// An IPv4 TCP segment of `payload` bytes handed over whole (TSO): the header says the
    /// receiver segments it at `mss` and finishes the checksum.
    static func tsoFrame(from source: UInt8, to destination: UInt8, payload: Int, mss: UInt16 = 1448) -> (header: [UInt8], frame: [UInt8]) {
        var ip: [UInt8] = [0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, source, 10, 0, 0, destination]
        let total = 20 + 20 + payload
        ip[2] = UInt8(total >> 8)
        ip[3] = UInt8(total & 0xFF)
        let tcp: [UInt8] = [0x30, 0x39, 0x00, 0x50, 0, 0, 0x10, 0, 0, 0, 0, 0, 0x50, 0x18, 0xFF, 0xFF, 0, 0, 0, 0]
        let body = (0..<payload).map { UInt8(truncatingIfNeeded: $0 * 7) }
        let frame = mac(destination) + mac(source) + [0x08, 0x00] + ip + tcp + body
        let header: [UInt8] = [1, 1, 54, 0, UInt8(mss & 0xFF), UInt8(mss >> 8), 34, 0, 16, 0, 0, 0]
        return (header, frame)
    }

    @Test func framesCrossBetweenTwoGuestsBothWays() throws {
        let rig = try Rig(ports: 2)
        defer { rig.stop() }
        let a = try VhostUserFrontEnd(path: rig.path(0)), b = try VhostUserFrontEnd(path: rig.path(1))
        try a.start()
        try b.start()
        a.postReceiveBuffers()
        b.postReceiveBuffers()
        let there = Self.frame(from: 1, to: 2, length: 1514)
        a.transmit(there)
        let atB = b.receive()
        #expect(atB.count == 1)
        #expect(atB.first?.frame == there)
        #expect(atB.first?.header == [UInt8](repeating: 0, count: 10) + [1, 0])
        #expect(b.interrupts(0) >= 1)
        let back = Self.frame(from: 2, to: 1, length: 60, fill: 0x3C)
        b.transmit(back)
        #expect(a.receive().first?.frame == back)
        // The transmit chains were given back to the driver, and it was told.
        #expect(a.transmitUsed == 1 && b.transmitUsed == 1)
        #expect(a.interrupts(1) >= 1)
        #expect(rig.counters(0)?.rxFrames == 1 && rig.counters(0)?.txFrames == 1)
        // Many frames in a row, more than one kick's budget: none is lost while buffers last.
        for index in 0..<100 { a.transmit(Self.frame(from: 1, to: 2, length: 64 + index)) }
        let burst = b.receive(atLeast: 100)
        #expect(burst.count == 100)
        #expect(burst.map(\.frame.count) == (0..<100).map { 64 + $0 }, "every frame, in order")
    }

    /// A guest's 64 KiB-class TCP segment crosses whole to a guest that takes TSO (header kept,
    /// spread over mergeable buffers) and is segmented in software for one that does not.
    @Test func tsoFrameCrossesWholeOrSegmentedAsTheReceiverNeeds() throws {
        let rig = try Rig(ports: 3)
        defer { rig.stop() }
        let plainFeatures = VirtioFeatures.offered.subtracting([.guestChecksum, .guestTSO4, .guestTSO6, .guestECN])
        let a = try VhostUserFrontEnd(path: rig.path(0)), b = try VhostUserFrontEnd(path: rig.path(1))
        let c = try VhostUserFrontEnd(path: rig.path(2), features: plainFeatures)
        for end in [a, b, c] {
            try end.start()
            end.postReceiveBuffers(200)
        }
        // Let the switch learn where everyone is, and empty the receive rings of those floods.
        a.transmit(Self.frame(from: 1, to: 0xFF))
        #expect(b.receive().count == 1 && c.receive().count == 1)
        b.transmit(Self.frame(from: 2, to: 1))
        c.transmit(Self.frame(from: 3, to: 1))
        #expect(a.receive(atLeast: 2).count == 2)
        let (header, frame) = Self.tsoFrame(from: 1, to: 2, payload: 60_000)
        a.transmit(frame, header: header)
        let whole = b.receive()
        #expect(whole.count == 1)
        #expect(whole.first?.frame.count == frame.count)
        let arrivedWhole = whole.first?.frame == frame
        #expect(arrivedWhole, "the segment arrived whole, byte for byte")
        #expect(whole.first.map { Array($0.header.prefix(10)) } == Array(header.prefix(10)))
        #expect(whole.first.map { Int($0.header[10]) | Int($0.header[11]) << 8 } == (12 + frame.count + 2047) / 2048)

        let (header3, frame3) = Self.tsoFrame(from: 1, to: 3, payload: 60_000)
        a.transmit(frame3, header: header3)
        let segments = c.receive(atLeast: 42)
        #expect(segments.count == (60_000 + 1447) / 1448)
        #expect(segments.allSatisfy { $0.frame.count <= 1514 && $0.header.prefix(10).allSatisfy { $0 == 0 } })
        let payloadInOrder = segments.flatMap { $0.frame.dropFirst(54) } == Array(frame3.dropFirst(54))
        #expect(payloadInOrder, "the segments carry the payload in order")
    }

    /// A front end whose ring is broken is cut off and counted; the other guests carry on, and
    /// the listener stays, so the VM can connect again.
    @Test(arguments: ["loop", "outside"])
    func brokenRingDisconnectsOnlyThatGuest(_ fault: String) throws {
        let rig = try Rig(ports: 3)
        defer { rig.stop() }
        let bad = try VhostUserFrontEnd(path: rig.path(0))
        let b = try VhostUserFrontEnd(path: rig.path(1)), c = try VhostUserFrontEnd(path: rig.path(2))
        for end in [bad, b, c] {
            try end.start()
            end.postReceiveBuffers()
        }
        if fault == "loop" {
            bad.descriptor(queue: 1, 40, address: 0x200000, length: 64, flags: 1, next: 41)
            bad.descriptor(queue: 1, 41, address: 0x200000, length: 64, flags: 1, next: 40)
        } else {
            bad.descriptor(queue: 1, 40, address: UInt64(VhostUserFrontEnd.memorySize) - 32, length: 64, flags: 0)
        }
        bad.transmitChain(head: 40)
        #expect(bad.wasDisconnected())
        #expect(rig.protocolErrors(0) == 1)
        #expect(rig.lastError(0) == (fault == "loop" ? RingError.chainLoop.label : RingError.addressOutsideMemory.label))
        #expect(!rig.isConnected(0))
        let frame = Self.frame(from: 2, to: 3)
        b.transmit(frame)
        #expect(c.receive().first?.frame == frame)
        // The same VM comes back on the same socket.
        let again = try VhostUserFrontEnd(path: rig.path(0))
        try again.start()
        again.postReceiveBuffers()
        c.transmit(Self.frame(from: 3, to: 1, length: 80))
        #expect(again.receive().first?.frame == Self.frame(from: 3, to: 1, length: 80))
    }

    @Test func brokenMessagesDisconnect() throws {
        let rig = try Rig(ports: 1)
        defer { rig.stop() }
        // A descriptor with a message that carries none.
        var end = try VhostUserFrontEnd(path: rig.path(0))
        try end.sendRaw(MessageEncoding.message(Request.setOwner.rawValue), fds: [end.kicks[0]])
        #expect(end.wasDisconnected())
        // More descriptors than any message carries (extras are closed, the peer cut off).
        end = try VhostUserFrontEnd(path: rig.path(0))
        try end.sendRaw(MessageEncoding.message(Request.setMemTable.rawValue, payload: [UInt8](repeating: 0, count: 8)), fds: [Int32](repeating: end.memfd, count: 12))
        #expect(end.wasDisconnected())
        // A payload larger than any message.
        end = try VhostUserFrontEnd(path: rig.path(0))
        try end.sendRaw(MessageEncoding.message(Request.setOwner.rawValue, payload: [UInt8](repeating: 0, count: 4097)))
        #expect(end.wasDisconnected())
        // A memory region longer than the file that backs it (touching it would raise SIGBUS).
        end = try VhostUserFrontEnd(path: rig.path(0))
        let region = RegionDescriptor(guestAddress: 0, size: UInt64(VhostUserFrontEnd.memorySize) * 2, userAddress: end.userBase, mmapOffset: 0)
        try end.sendRaw(MessageEncoding.message(Request.setMemTable.rawValue, payload: MemoryTableMessage.encode([region])), fds: [end.memfd])
        #expect(end.wasDisconnected())
        #expect(rig.protocolErrors(0) == 4)
        // A well-behaved front end still gets in.
        end = try VhostUserFrontEnd(path: rig.path(0))
        try end.start()
        #expect(rig.isConnected(0))
    }

    /// Guest memory a front end could still shrink (ftruncate) would raise SIGBUS in vnetd at
    /// the next ring access: refused at SET_MEM_TABLE, the front end cut off and told why. A
    /// front end whose memfd is sealed, as QEMU's memfd backend does by default, forwards.
    @Test func memoryNotSealedAgainstShrinkingIsRefused() throws {
        let rig = try Rig(ports: 2)
        defer { rig.stop() }
        let unsealed = try VhostUserFrontEnd(path: rig.path(0), sealed: false)
        #expect(throws: VhostUserFrontEnd.Failure.self) { try unsealed.start() }
        #expect(unsealed.wasDisconnected())
        #expect(rig.protocolErrors(0) == 1)
        #expect(rig.lastError(0) == "memory not sealed against shrinking: use memory-backend-memfd with seal=on (the default)")
        #expect(!rig.isConnected(0))
        let a = try VhostUserFrontEnd(path: rig.path(0)), b = try VhostUserFrontEnd(path: rig.path(1))
        try a.start()
        try b.start()
        b.postReceiveBuffers()
        let frame = Self.frame(from: 1, to: 2)
        a.transmit(frame)
        #expect(b.receive().first?.frame == frame)
    }

    /// While a VM is attached, a second front end on its socket (anyone in the socket's group)
    /// is refused and counted: it neither knocks the VM off nor gets its traffic.
    @Test func aSecondFrontEndIsRefusedWhileTheFirstIsAttached() throws {
        let rig = try Rig(ports: 2)
        defer { rig.stop() }
        let a = try VhostUserFrontEnd(path: rig.path(0)), b = try VhostUserFrontEnd(path: rig.path(1))
        try a.start()
        try b.start()
        a.postReceiveBuffers()
        b.postReceiveBuffers()
        let intruder = try VhostUserFrontEnd(path: rig.path(0))
        #expect(intruder.wasDisconnected())
        #expect(rig.protocolErrors(0) == 1)
        #expect(rig.isConnected(0))
        let there = Self.frame(from: 1, to: 2), back = Self.frame(from: 2, to: 1, fill: 0x3C)
        a.transmit(there)
        #expect(b.receive().first?.frame == there, "the first front end still forwards")
        b.transmit(back)
        #expect(a.receive().first?.frame == back, "and still gets its traffic")
        // Once it has gone, the VM (a restarted QEMU) connects again at once.
        a.close()
        let again = try VhostUserFrontEnd(path: rig.path(0))
        try again.start()
        again.postReceiveBuffers()
        b.transmit(back)
        #expect(again.receive().first?.frame == back)
        #expect(rig.protocolErrors(0) == 1)
    }
}
