import Domain
import Foundation

/// The traffic chart of a network's page: two panels over the last 60 s, bytes per second and
/// frames per second, each with what came into the switch from its ports (received) and what
/// it sent to them, on a scale stated beside it.
///
/// No script (allowed by the site's CSP): the points are numbers computed here, inserted
/// escaped as usual. Each panel's text alternative (`label`) says the values now and the real
/// peaks; the scale's top may be higher than the peak (at least 1 kB/s, 10 frames/s, so a quiet
/// network's axis is not 0 to 1), and is never given as the peak.
extension Formatting {
    static func historyChart(_ received: [TrafficSample], sent: [TrafficSample] = [], width: Int = 600, height: Int = 120) -> [String: Any] {
        let zero = TrafficSample(frames: 0, bytes: 0)
        let lastIn = received.last ?? zero, lastOut = sent.last ?? zero
        let seconds = max(received.count, sent.count)
        let hasTraffic = received.contains { $0.bytes > 0 || $0.frames > 0 } || sent.contains { $0.bytes > 0 || $0.frames > 0 }
        let peakIn = TrafficSample(frames: received.map(\.frames).max() ?? 0, bytes: received.map(\.bytes).max() ?? 0)
        let peakOut = TrafficSample(frames: sent.map(\.frames).max() ?? 0, bytes: sent.map(\.bytes).max() ?? 0)

        let byteScale = max(peakIn.bytes, peakOut.bytes, 1000)
        let frameScale = max(peakIn.frames, peakOut.frames, 10)
        func byteRate(_ value: UInt64) -> String { bytes(value) + "/s" }
        func frameRate(_ value: UInt64) -> String { "\(value) frame\(value == 1 ? "" : "s")/s" }
        func describe(_ title: String, _ show: (UInt64) -> String, now: (TrafficSample) -> UInt64, peak: (TrafficSample) -> UInt64) -> String {
            var text = "\(title) over the last \(seconds) seconds: received from ports now \(show(now(lastIn))), peak \(show(peak(peakIn)))"
            if !sent.isEmpty { text += "; sent to ports now \(show(now(lastOut))), peak \(show(peak(peakOut)))" }
            return text + (hasTraffic ? "" : "; no traffic in the last 60 s")
        }
        let panels: [[String: Any]] = [
            panel(title: "Bytes per second", scale: byteScale, show: byteRate, received: received.map(\.bytes), sent: sent.map(\.bytes),
                  label: describe("Bytes per second", byteRate, now: \.bytes, peak: \.bytes), width: width, height: height),
            panel(title: "Frames per second", scale: frameScale, show: frameRate, received: received.map(\.frames), sent: sent.map(\.frames),
                  label: describe("Frames per second", frameRate, now: \.frames, peak: \.frames), width: width, height: height),
        ]
        return [
            "panels": panels, "hasSent": !sent.isEmpty, "seconds": seconds, "hasTraffic": hasTraffic,
            "current": byteRate(lastIn.bytes), "currentFrames": lastIn.frames,
            "currentSent": byteRate(lastOut.bytes), "currentSentFrames": lastOut.frames,
            "peakReceived": "\(byteRate(peakIn.bytes)), \(frameRate(peakIn.frames))",
            "peakSent": "\(byteRate(peakOut.bytes)), \(frameRate(peakOut.frames))",
        ]
    }

    /// One panel: polylines scaled so `scale` reaches the top (4 units below the edge).
    private static func panel(title: String, scale: UInt64, show: (UInt64) -> String, received: [UInt64], sent: [UInt64],
                              label: String, width: Int, height: Int) -> [String: Any] {
        func points(_ values: [UInt64]) -> String {
            let step = values.count > 1 ? Double(width) / Double(values.count - 1) : 0
            return values.enumerated().map { index, value in
                String(format: "%.1f,%.1f", Double(index) * step, Double(height) - Double(value) / Double(scale) * Double(height - 4))
            }.joined(separator: " ")
        }
        return [
            "title": title, "label": label, "top": show(scale), "half": show(scale / 2),
            "points": points(received), "sentPoints": points(sent), "hasSent": !sent.isEmpty,
            "width": width, "height": height, "middle": height / 2,
        ]
    }
}
