import CLinuxNet
import Packets
import Switching
import VhostUser

#if canImport(Glibc)
import Glibc
#endif

/// A vhost-user back end for one VM NIC: QEMU connects to the unix socket at `path`
/// (`-chardev socket,...,reconnect=1 -netdev vhost-user`), shares the guest's memory and the
/// NIC's two virtqueues, and vnetd moves frames in and out of the guest's rings directly.
///
/// vnetd is the server and listens before and after any QEMU: a QEMU that restarts, or one
/// that reconnects after vnetd restarted, simply connects again. The protocol and the rings are
/// `VhostUser.Device`'s; this edge reads messages with their descriptors (at most 8, extras
/// closed), maps the memory regions, watches the transmit queue's kick eventfd in the event loop
/// (no polling) and signals the driver's call eventfds. A front end that breaks the protocol or
/// its rings is disconnected, counted (`protocolErrors`) and told why in `lastError`; the
/// listener stays. One front end at a time: another connecting while it is attached is closed
/// at once and counted in `protocolErrors`; guest memory must be sealed against shrinking.
///
/// Offloads: the guest's virtio-net header travels with its frame as `OffloadInfo`, so a TSO
/// frame reaches a TAP or another guest whole; the port takes offloaded frames only when its
/// guest negotiated checksum and TSO for both IP versions, else the switch finishes them first.
public final class VhostUserPort: IOPort, Flushable {
    public let path: String
    private var listener: Int32
    private var connection: Int32 = -1
    /// One per port, reset for every connection.
    private let device = Device()
    private var mappings: [(pointer: UnsafeMutableRawPointer, length: Int)] = []
    private var kickFDs: [Int32] = [-1, -1]
    private var callFDs: [Int32] = [-1, -1]
    private var kickHandlers: [KickHandler] = []
    // The message being read: header, then payload, with the descriptors that came with it.
    private var message = [UInt8](repeating: 0, count: MessageHeader.size + MessageHeader.maximumPayload)
    private var messageCount = 0
    private var messageFDs: [Int32] = []
    private var receivePending = false
    private var flushScheduled = false
    /// Why the last front end was disconnected (nil: it left, or none came yet).
    public private(set) var lastError: String?
    /// Where a frame from the guest is gathered (header, then frame).
    private let frames: UnsafeMutableRawBufferPointer

    deinit {
        frames.deallocate()
    }

    /// Chains a transmit kick handles before other ports get a turn.
    static let transmitBudget = 256

    public init(id: PortID, loop: EventLoop, path: String) throws(SystemError) {
        self.path = path
        listener = Int32(try Syscall.helper("listen on \(path)") { Int(vnetd_unix_listen(path, 4)) })
        frames = .allocate(byteCount: 12 + 65_535 + 18 + 64, alignment: 64)
        super.init(id: id, loop: loop, bufferSize: 0)
        chmod(path, 0o660)
        kickHandlers = [KickHandler(port: self, queue: 0), KickHandler(port: self, queue: 1)]
        try loop.adopt(listener, Listener(port: self))
    }

    public override var endpoint: String { path }
    public var isConnected: Bool { connection >= 0 }
    /// The features the connected front end acknowledged (for status pages and tests).
    public var negotiatedFeatures: VirtioFeatures { connection >= 0 ? device.features : [] }

    private final class Listener: IOHandler {
        unowned let port: VhostUserPort
        init(port: VhostUserPort) { self.port = port }
        func handle(events: UInt32) { port.acceptPeers() }
        var owner: AnyObject { port }
    }

    private final class KickHandler: IOHandler {
        unowned let port: VhostUserPort
        let queue: Int
        init(port: VhostUserPort, queue: Int) {
            self.port = port
            self.queue = queue
        }
        func handle(events: UInt32) { port.kicked(queue) }
        var owner: AnyObject { port }
    }

    func acceptPeers() {
        acceptPeers(on: listener, isAttached: { connection >= 0 }, takeHangUp: {
            if vnetd_peer_hung_up(connection) != 0 { disconnect(because: nil) }
        }, attach: { fd in
            connection = fd
            device.reset()
            messageCount = 0
            do {
                try loop.register(fd, self, events: EPOLLIN.rawValue | EPOLLRDHUP.rawValue)
                state = .attached
            } catch {
                Syscall.close(fd)
                connection = -1
            }
        })
    }

    // MARK: control messages

    public override func handle(events: UInt32) {
        // Several messages per wake-up, bounded, so a flooding front end cannot hold the loop.
        for _ in 0..<64 {
            guard connection >= 0 else { return }
            // Exactly the rest of the header, or of the payload it announced (checked against the
            // limit as soon as the header is complete; bounded by the buffer all the same).
            let announced = messageCount < MessageHeader.size
                ? MessageHeader.size - messageCount
                : MessageHeader.size + Int(message.withUnsafeBytes { MessageHeader($0)?.size ?? 0 }) - messageCount
            let wanted = max(1, min(announced, message.count - messageCount))
            var fds = [Int32](repeating: -1, count: MemoryTableMessage.maximumRegions)
            var fdCount: Int32 = 0
            let fd = connection, offset = messageCount
            let count = message.withUnsafeMutableBytes { bytes in
                fds.withUnsafeMutableBufferPointer { vnetd_recv_with_fds(fd, bytes.baseAddress.map { $0 + offset }, wanted, $0.baseAddress, Int32($0.count), &fdCount) }
            }
            let kept = min(Int(fdCount), fds.count)
            messageFDs.append(contentsOf: fds[0..<kept])
            if count == -Int(EAGAIN) || count == -Int(EWOULDBLOCK) || count == -Int(EINTR) { return }
            if count <= 0 {
                disconnect(because: count == -Int(EBADMSG) ? "sent more descriptors than any message carries" : nil)
                return
            }
            if Int(fdCount) > kept || messageFDs.count > MemoryTableMessage.maximumRegions {
                disconnect(because: "sent more descriptors than any message carries")
                return
            }
            messageCount += count
            guard messageCount >= MessageHeader.size, let header = message.withUnsafeBytes({ MessageHeader($0) }) else { continue }
            guard header.size <= MessageHeader.maximumPayload else {
                disconnect(because: Device.ProtocolError.payloadTooLarge(header.size).label)
                return
            }
            guard messageCount == MessageHeader.size + Int(header.size) else { continue }
            let fdsOfMessage = messageFDs
            messageFDs.removeAll()
            messageCount = 0
            process(header, fds: fdsOfMessage)
            // A ring just enabled may hold chains whose kick came before it ran.
            if connection >= 0 && device.isRunning(NetQueue.transmitQueue) { kicked(NetQueue.transmitQueue) }
        }
    }

    private func process(_ header: MessageHeader, fds: [Int32]) {
        guard connection >= 0 else { return fds.forEach(Syscall.close) }
        let outcome: Device.Outcome
        do {
            outcome = try message.withUnsafeBytes { bytes throws(Device.ProtocolError) in
                try device.handle(header, payload: UnsafeRawBufferPointer(rebasing: bytes[MessageHeader.size..<MessageHeader.size + Int(header.size)]), fds: fds)
            }
        } catch let error as Device.ProtocolError {
            fds.forEach(Syscall.close)
            disconnect(because: error.label)
            return
        } catch {
            fds.forEach(Syscall.close)
            disconnect(because: "\(error)")
            return
        }
        var handedOver = Set<Int32>()
        for effect in outcome.effects {
            if let failure = apply(effect, &handedOver) {
                fds.filter { !handedOver.contains($0) }.forEach(Syscall.close)
                disconnect(because: failure)
                return
            }
        }
        fds.filter { !handedOver.contains($0) }.forEach(Syscall.close)
        if let reply = outcome.reply {
            let sent = reply.withUnsafeBytes { vnetd_send_all(connection, $0.baseAddress, $0.count) }
            if sent < 0 { disconnect(because: nil) }
        }
    }

    /// Guest memory the front end could still shrink: the next ring access past the new end
    /// would raise SIGBUS in vnetd. QEMU's memory-backend-memfd seals by default.
    static let notSealed = "memory not sealed against shrinking: use memory-backend-memfd with seal=on (the default)"

    /// Returns why the connection must end, or nil.
    private func apply(_ effect: Device.Effect, _ handedOver: inout Set<Int32>) -> String? {
        switch effect {
        case .mapMemory(let regions, let fds):
            var mapped: [(pointer: UnsafeMutableRawPointer, length: Int)] = []
            var table: [GuestMemory.Region] = []
            for (region, fd) in zip(regions, fds) {
                var base: UnsafeMutableRawPointer?, mapping: UnsafeMutableRawPointer?
                var length = 0
                let result = vnetd_map_region(fd, region.mmapOffset, region.size, &base, &mapping, &length)
                guard result == 0, let base, let mapping else {
                    mapped.forEach { _ = vnetd_unmap($0.pointer, $0.length) }
                    if result == VNETD_MAP_NOT_SEALED { return Self.notSealed }
                    return "a memory region could not be mapped (\(String(cString: strerror(-result))))"
                }
                mapped.append((mapping, length))
                table.append(GuestMemory.Region(region, base: base))
            }
            do {
                try device.install(GuestMemory(regions: table))
            } catch {
                mapped.forEach { _ = vnetd_unmap($0.pointer, $0.length) }
                return error.label
            }
            mappings.forEach { _ = vnetd_unmap($0.pointer, $0.length) }
            mappings = mapped
        case .setKick(let queue, let fd):
            stopWatching(queue)
            guard let fd else { return nil }
            handedOver.insert(fd)
            _ = vnetd_set_nonblocking(fd)
            kickFDs[queue] = fd
            // Only the transmit queue's kicks matter: a frame for the guest that finds no buffer
            // is dropped, never waited for.
            if queue == NetQueue.transmitQueue {
                do {
                    try loop.register(fd, kickHandlers[queue])
                } catch {
                    return "its kick descriptor cannot be watched (\(error))"
                }
                kicked(queue)
            }
        case .setCall(let queue, let fd):
            if callFDs[queue] >= 0 { Syscall.close(callFDs[queue]) }
            callFDs[queue] = -1
            if let fd {
                handedOver.insert(fd)
                _ = vnetd_set_nonblocking(fd)
                callFDs[queue] = fd
            }
        case .closeFD:
            break  // closed with the other descriptors not handed over
        case .queueStopped(let queue):
            stopWatching(queue)
        }
        return nil
    }

    private func stopWatching(_ queue: Int) {
        guard kickFDs[queue] >= 0 else { return }
        if queue == NetQueue.transmitQueue { loop.unregister(kickFDs[queue]) }
        Syscall.close(kickFDs[queue])
        kickFDs[queue] = -1
    }

    // MARK: frames from the guest

    func kicked(_ queue: Int) {
        guard queue == NetQueue.transmitQueue, connection >= 0, kickFDs[queue] >= 0 else { return }
        vnetd_eventfd_drain(kickFDs[queue])
        guard device.isRunning(queue) else { return }
        let ring = device.transmitQueue
        let headerSize = device.headerSize
        let frames = self.frames
        var budget = Self.transmitBudget
        do throws(RingError) {
            var more = true
            repeat {
                while budget > 0, let head = try device.withMemory({ memory throws(RingError) in try ring.nextChain(memory: memory, writable: false) }) ?? nil {
                    budget -= 1
                    let length = NetQueue.gather(ring, into: frames)
                    ring.addUsed(head: head, length: 0)
                    guard let length else {
                        dropOversized(bytes: ring.chainLength - headerSize)
                        continue
                    }
                    guard length > headerSize else { continue }
                    ingest(UnsafeRawBufferPointer(rebasing: frames[headerSize..<length]),
                           offload: OffloadInfo(header: UnsafeRawBufferPointer(rebasing: frames[0..<OffloadInfo.headerSize])))
                    guard connection >= 0 else { return }
                }
                ring.publishUsed()
                signal(queue)
                more = budget > 0 ? try ring.armKick() : false
            } while more
        } catch {
            disconnect(because: error.label)
            return
        }
        // Budget spent with chains left: come back next round, after the other ports.
        if budget == 0 { _ = vnetd_eventfd_signal(kickFDs[queue]) }
    }

    private func signal(_ queue: Int) {
        guard callFDs[queue] >= 0, (queue == 0 ? device.receiveQueue : device.transmitQueue).needsSignal() else { return }
        _ = vnetd_eventfd_signal(callFDs[queue])
    }

    // MARK: frames to the guest

    public override var handlesOffloads: Bool { device.guestTakesOffloads }

    public override func send(_ frame: UnsafeRawBufferPointer, offload: OffloadInfo) -> SendResult {
        guard device.isRunning(NetQueue.receiveQueue) else { return .dropped(.notAttached) }
        var header: UnsafeRawBufferPointer?
        if !offload.isPlain {
            guard device.guestTakesOffloads, let raw = offload.header, let parsed = VirtioNetHeader(raw),
                  parsed.gsoType == VirtioNetHeader.GSOType.none.rawValue || parsed.gsoType == VirtioNetHeader.GSOType.tcpv4.rawValue
                    || parsed.gsoType == VirtioNetHeader.GSOType.tcpv6.rawValue
            else { return .dropped(.needsOffload) }
            header = raw
        }
        do {
            let ring = device.receiveQueue, headerSize = device.headerSize, mergeable = device.mergeableBuffers
            let delivery = try device.withMemory { memory throws(RingError) in
                try NetQueue.deliver(header: header, headerSize: headerSize, frame: frame, to: ring, memory: memory, mergeable: mergeable)
            }
            switch delivery ?? .noBuffers {
            case .delivered:
                receivePending = true
                if !flushScheduled {
                    flushScheduled = true
                    loop.markDirty(self)
                }
                return .sent
            case .noBuffers, .tooLarge:
                return .dropped(.congested)
            }
        } catch {
            disconnect(because: error.label)
            return .dropped(.failed)
        }
    }

    /// Publishes the frames delivered this round and interrupts the guest once for all of them.
    public func flushOutput() {
        flushScheduled = false
        guard receivePending, device.isRunning(NetQueue.receiveQueue) else { return }
        receivePending = false
        device.receiveQueue.publishUsed()
        signal(NetQueue.receiveQueue)
    }

    // MARK: ending a connection

    private func disconnect(because failure: String?) {
        guard connection >= 0 else { return }
        if let failure {
            protocolErrors &+= 1
            lastError = failure
            loop.logger.warning("vhost-user front end disconnected", metadata: ["socket": "\(path)", "reason": "\(failure)"])
        }
        loop.unregister(connection)
        Syscall.close(connection)
        connection = -1
        for queue in 0..<2 {
            stopWatching(queue)
            if callFDs[queue] >= 0 { Syscall.close(callFDs[queue]) }
            callFDs[queue] = -1
        }
        messageFDs.forEach(Syscall.close)
        messageFDs.removeAll()
        messageCount = 0
        device.reset()
        mappings.forEach { _ = vnetd_unmap($0.pointer, $0.length) }
        mappings.removeAll()
        receivePending = false
        state = .waiting
    }

    public override func close() {
        disconnect(because: nil)
        if listener >= 0 {
            loop.unregister(listener)
            Syscall.close(listener)
            listener = -1
            unlink(path)
        }
    }
}
