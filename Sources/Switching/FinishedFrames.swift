import Packets

/// The software-finished form of the frame being switched: its checksum completed, or its TCP
/// segments, in one reusable buffer. The switch prepares it at most once per frame and hands the
/// result to every port of a flood that cannot take the frame as it is.
struct FinishedFrames {
    private(set) var segments: [(offset: Int, length: Int)] = []
    private(set) var failure: SoftwareOffload.Failure?
    private var storage: UnsafeMutableRawBufferPointer?

    /// Room for the largest frame split into the most segments, each with its own headers.
    static let capacity = 65_535 + 18 + SoftwareOffload.maximumSegments * (18 + 60 + 60)

    var buffer: UnsafeMutableRawBufferPointer { storage ?? UnsafeMutableRawBufferPointer(start: nil, count: 0) }

    mutating func prepare(_ frame: UnsafeRawBufferPointer, _ offload: OffloadInfo) {
        segments.removeAll(keepingCapacity: true)
        failure = nil
        guard let raw = offload.header, let header = VirtioNetHeader(raw) else {
            failure = .malformed
            return
        }
        if storage == nil {
            storage = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.capacity, alignment: 16)
            segments.reserveCapacity(SoftwareOffload.maximumSegments)
        }
        let output = buffer
        do {
            if header.gsoType == VirtioNetHeader.GSOType.none.rawValue {
                let length = try SoftwareOffload.completeChecksum(frame, header: header, into: output)
                segments.append((0, length))
            } else {
                var found: [(offset: Int, length: Int)] = []
                swap(&found, &segments)
                try SoftwareOffload.segmentTCP(frame, header: header, into: output) { found.append(($0, $1)) }
                swap(&found, &segments)
            }
        } catch {
            segments.removeAll(keepingCapacity: true)
            failure = error
        }
    }

    func release() {
        storage?.deallocate()
    }
}
