/// Frames through a virtio-net device's two queues: the guest's transmit queue (chains the
/// device reads: virtio-net header, then the frame) and its receive queue (chains the device
/// fills, several per frame with mergeable buffers, their count in the header's `num_buffers`).
public enum NetQueue {
    public static let receiveQueue = 0
    public static let transmitQueue = 1

    /// Copies the chain `queue.nextChain` returned into `buffer`; nil when it does not fit
    /// (the caller drops the frame and gives the chain back as used).
    @inline(__always)
    public static func gather(_ queue: SplitQueue, into buffer: UnsafeMutableRawBufferPointer) -> Int? {
        guard queue.chainLength <= buffer.count, let target = buffer.baseAddress else { return nil }
        var offset = 0
        for index in 0..<queue.segmentCount {
            let segment = queue.segment(index)
            (target + offset).copyMemory(from: segment.pointer, byteCount: segment.length)
            offset += segment.length
        }
        return offset
    }

    public enum Delivery: Equatable, Sendable {
        case delivered(buffers: Int)
        /// The guest has not posted enough receive buffers (it is slow, or not running).
        case noBuffers
        /// Without mergeable buffers, the next chain is smaller than header and frame.
        case tooLarge
    }

    /// Writes `header` (the 10-byte virtio-net header; `headerSize` 10 or 12, the last two bytes
    /// being `num_buffers`) and `frame` into the receive queue and records the chains as used;
    /// the caller publishes and signals. Nothing is used when the frame cannot be delivered whole.
    public static func deliver(header: UnsafeRawBufferPointer?, headerSize: Int, frame: UnsafeRawBufferPointer,
                               to queue: SplitQueue, memory: GuestMemory, mergeable: Bool) throws(RingError) -> Delivery {
        let total = headerSize + frame.count
        var written = 0
        var buffers = 0
        // Where num_buffers (header bytes 10 and 11) landed in the first chain.
        var countLow: UnsafeMutableRawPointer?
        var countHigh: UnsafeMutableRawPointer?
        while written < total {
            guard buffers < Int(queue.size), let head = try queue.nextChain(memory: memory, writable: true) else {
                queue.unget(buffers)
                queue.forgetUsed(buffers)
                return .noBuffers
            }
            if !mergeable && queue.chainLength < total {
                queue.unget(1)
                return .tooLarge
            }
            var chainWritten = 0
            for index in 0..<queue.segmentCount where written < total {
                let segment = queue.segment(index)
                var offset = 0
                if written == 0 && segment.length >= headerSize {
                    // The usual case: the whole header in the first buffer.
                    let target = segment.pointer
                    if let source = header?.baseAddress, header?.count ?? 0 >= 10 {
                        target.copyMemory(from: source, byteCount: 10)
                    } else {
                        target.initializeMemory(as: UInt8.self, repeating: 0, count: 10)
                    }
                    if headerSize >= 12 {
                        countLow = target + 10
                        countHigh = target + 11
                    }
                    offset = headerSize
                    written = headerSize
                    chainWritten = headerSize
                }
                while offset < segment.length && written < total {
                    let target = segment.pointer + offset
                    if written < headerSize {
                        // Header bytes one by one: it is split over descriptors.
                        let byte: UInt8 = written < 10 ? (header.map { $0.count > written ? $0[written] : 0 } ?? 0) : 0
                        target.storeBytes(of: byte, as: UInt8.self)
                        if written == 10 { countLow = target }
                        if written == 11 { countHigh = target }
                        offset += 1
                        written += 1
                        chainWritten += 1
                        continue
                    }
                    let count = min(segment.length - offset, total - written)
                    if let source = frame.baseAddress {
                        target.copyMemory(from: source + (written - headerSize), byteCount: count)
                    }
                    offset += count
                    written += count
                    chainWritten += count
                }
            }
            queue.addUsed(head: head, length: chainWritten)
            buffers += 1
            if !mergeable { break }
        }
        if headerSize >= 12 {
            let count = UInt16(truncatingIfNeeded: buffers)
            countLow?.storeBytes(of: UInt8(truncatingIfNeeded: count), as: UInt8.self)
            countHigh?.storeBytes(of: UInt8(count >> 8), as: UInt8.self)
        }
        return .delivered(buffers: buffers)
    }
}
