import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// vnetd's log output: one line per record on standard error, written with a single `write(2)`
/// so lines from different threads never interleave.
///
/// `2026-11-26T13:46:43Z info vnetd: GET / 200 2762 client=127.0.0.1 ms=0.12`
///
/// Without `timestamps` (standard error is the journal, which stamps each line itself) a line
/// starts at the level.
///
/// Times are UTC, formatted once per second and shared, because the access log writes a line for
/// every request and formatting local time takes a process-wide lock in glibc.
public struct LineLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    private let label: String
    private let descriptor: Int32
    private let timestamps: Bool

    public init(label: String, level: Logger.Level, descriptor: Int32 = STDERR_FILENO, timestamps: Bool = true) {
        self.label = label
        self.logLevel = level
        self.descriptor = descriptor
        self.timestamps = timestamps
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var line = timestamps ? Timestamp.shared.current() + " " : ""
        line += event.level.rawValue
        line += " "
        line += label
        line += ": "
        line += Self.oneLine(event.message.description)
        let merged = event.metadata.map { metadata.merging($0) { $1 } } ?? metadata
        for key in merged.keys.sorted() {
            line += " \(Self.oneLine(key))=\(Self.oneLine(merged[key].map { "\($0)" } ?? ""))"
        }
        line += "\n"
        var bytes = Array(line.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeMutableBytes { write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return }
            offset += written
        }
    }

    /// The last line of defence against forged log lines: control characters (C0, DEL, C1), line
    /// and paragraph separators are written as `\u{XX}`, whatever the caller passed. Values from
    /// requests are escaped fully (backslashes too) where they are logged (`LogText`); this only
    /// makes sure nothing can end the line. Plain text, the usual case, is returned untouched.
    static func oneLine(_ text: String) -> String {
        guard text.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F || $0 == 0xC2 || $0 == 0xE2 }) else { return text }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0..<0x20, 0x7F...0x9F, 0x2028, 0x2029:
                out.append(contentsOf: "\\u{\(String(scalar.value, radix: 16, uppercase: true))}".unicodeScalars)
            default:
                out.append(scalar)
            }
        }
        return String(out)
    }

    /// The current second as ISO 8601 UTC text, recomputed when the second changes.
    final class Timestamp: Sendable {
        static let shared = Timestamp()
        private let cached = Mutex<(second: Int, text: String)>((-1, ""))

        func current() -> String {
            var now = timespec()
            clock_gettime(CLOCK_REALTIME, &now)
            let second = now.tv_sec
            return cached.withLock { cache in
                if cache.second != second {
                    var parts = tm()
                    var time = second
                    gmtime_r(&time, &parts)
                    cache = (second, String(
                        format: "%04d-%02d-%02dT%02d:%02d:%02dZ",
                        parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec))
                }
                return cache.text
            }
        }
    }
}
