import FuzzDriver
import Switching

/// QEMU's stream framing from a hostile peer: the input is split into reads of sizes taken from
/// its first bytes. Every frame handed out must lie within the limits; a bad length must be
/// reported as an error, never a crash or an endless loop.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    guard let first = bytes.first else { return 0 }
    let readSize = Int(first) * 64 + 1
    let maximum = 1 + Int(bytes.count > 1 ? bytes[1] : 0) * 256
    var framer = LengthPrefixedFramer(maximumFrameSize: maximum)
    var offset = min(2, bytes.count)
    while offset < bytes.count {
        let end = min(bytes.count, offset + readSize)
        let chunk = bytes[offset..<end]
        let written = framer.write { space in
            let count = min(space.count, chunk.count)
            for (index, byte) in chunk.prefix(count).enumerated() { space[index] = byte }
            return count
        }
        precondition(written >= 0)
        if written == 0 { break }
        offset += written
        do {
            try framer.drain { frame in
                precondition(frame.count > 0 && frame.count <= maximum)
            }
        } catch {
            framer.releaseStorage()
            return 0
        }
    }
    return 0
}

@_cdecl("FuzzFramer_main")
public func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    vnetd_run_fuzzer(argc, argv) { data, size in
        guard let data else { return 0 }
        return fuzz(data, size)
    }
}
