/// Splits QEMU's `-netdev stream` byte stream into frames: each frame is preceded by its length
/// as 4 bytes, big-endian (QEMU net/stream_data.c).
///
/// The buffer is allocated on first use and kept until `releaseStorage()` (a port without a peer
/// holds none); bytes are read straight into its free space with `write(into:)`
/// and frames are handed out as views into it, so nothing is copied or allocated per frame.
/// A length of 0 or over `maximumFrameSize` is a protocol error: the caller disconnects the peer.
public struct LengthPrefixedFramer {
    public enum FramingError: Error, Equatable {
        case badLength(Int)
    }

    /// The largest frame QEMU's stream netdev sends or accepts (NET_BUFSIZE: 4,096 + 65,536).
    public static let qemuMaximumFrameSize = 4_096 + 65_536

    public let maximumFrameSize: Int
    private var storage: [UInt8]
    private var start = 0
    private var end = 0

    public init(maximumFrameSize: Int = LengthPrefixedFramer.qemuMaximumFrameSize) {
        self.maximumFrameSize = maximumFrameSize
        storage = []
    }

    /// Drops buffered bytes and gives the buffer's memory back.
    public mutating func releaseStorage() {
        storage = []
        start = 0
        end = 0
    }

    public var bufferedCount: Int { end - start }

    /// Lets the caller fill the free space (e.g. with `read(2)`); `fill` returns how many bytes it
    /// wrote, or a negative number on error, which is passed back unchanged.
    public mutating func write(into fill: (UnsafeMutableRawBufferPointer) -> Int) -> Int {
        if storage.isEmpty { storage = Array(repeating: 0, count: 4 * (maximumFrameSize + 4)) }
        if start > 0 && (start == end || storage.count - end < maximumFrameSize + 4) {
            compact()
        }
        let written = storage.withUnsafeMutableBytes { bytes in
            fill(UnsafeMutableRawBufferPointer(rebasing: bytes[end...]))
        }
        if written > 0 { end += written }
        return written
    }

    public mutating func append<Bytes: Collection>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        let array = Array(bytes)
        var offset = 0
        while offset < array.count {
            let count = write { space in
                let n = min(space.count, array.count - offset)
                for index in 0..<n { space[index] = array[offset + index] }
                return n
            }
            offset += count
            if count == 0 { break }
        }
    }

    /// Hands every complete frame to `handle`, in order. The view is valid only during the call.
    public mutating func drain(_ handle: (UnsafeRawBufferPointer) -> Void) throws(FramingError) {
        while end - start >= 4 {
            let length = storage.withUnsafeBytes { bytes in
                Int(UInt32(bytes[start]) << 24 | UInt32(bytes[start + 1]) << 16 | UInt32(bytes[start + 2]) << 8 | UInt32(bytes[start + 3]))
            }
            guard length > 0, length <= maximumFrameSize else { throw .badLength(length) }
            guard end - start >= 4 + length else { return }
            let frameStart = start + 4
            storage.withUnsafeBytes { bytes in
                handle(UnsafeRawBufferPointer(rebasing: bytes[frameStart..<frameStart + length]))
            }
            start = frameStart + length
        }
        if start == end {
            start = 0
            end = 0
        }
    }

    private mutating func compact() {
        let count = end - start
        storage.withUnsafeMutableBytes { bytes in
            guard let base = bytes.baseAddress else { return }
            base.copyMemory(from: base + start, byteCount: count)
        }
        start = 0
        end = count
    }

    /// The 4-byte prefix for a frame of `length` bytes.
    public static func prefix(_ length: Int) -> (UInt8, UInt8, UInt8, UInt8) {
        (UInt8(truncatingIfNeeded: length >> 24), UInt8(truncatingIfNeeded: length >> 16), UInt8(truncatingIfNeeded: length >> 8), UInt8(truncatingIfNeeded: length))
    }
}
