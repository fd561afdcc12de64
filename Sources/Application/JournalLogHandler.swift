import Foundation
import HostNet
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Log records straight to the systemd journal (its native protocol: one datagram of fields to
/// `/run/systemd/journal/socket`), when vnetd runs under systemd with standard error connected
/// to the journal (`JOURNAL_STREAM` names that stream). Each record carries its priority, the
/// journal's own timestamp (none in the text) and its metadata as fields: `network`, `vm` and
/// `nic` become `NETWORK_ID`, `VM_ID` and `NIC_ID`, other keys their upper-case names.
/// A record the journal does not take is written to standard error instead, without a time.
public struct JournalLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    private let label: String
    private let socket: UnixDatagramSender
    private let fallback: LineLogHandler

    public init(label: String, level: Logger.Level, socket: UnixDatagramSender) {
        self.label = label
        self.logLevel = level
        self.socket = socket
        fallback = LineLogHandler(label: label, level: level, timestamps: false)
    }

    /// The journal's socket when standard error is the journal stream systemd gave vnetd
    /// (`JOURNAL_STREAM=device:inode` matches it); nil otherwise, for the line format.
    public static func journalSocket(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        path: String = "/run/systemd/journal/socket"
    ) -> UnixDatagramSender? {
        guard standardErrorIsJournal(environment: environment) else { return nil }
        return try? UnixDatagramSender(path: path)
    }

    /// True when standard error is the stream `JOURNAL_STREAM` names (stderr not redirected).
    public static func standardErrorIsJournal(environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        guard let value = environment["JOURNAL_STREAM"] else { return false }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var status = stat()
        guard fstat(STDERR_FILENO, &status) == 0 else { return false }
        return UInt64(status.st_dev) == device && UInt64(status.st_ino) == inode
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = event.metadata.map { metadata.merging($0) { $1 } } ?? metadata
        var fields: [(String, String)] = [
            ("MESSAGE", event.message.description),
            ("PRIORITY", String(Self.priority(event.level))),
            ("SYSLOG_IDENTIFIER", "vnetd"),
            ("VNETD_LOGGER", label),
            ("CODE_FILE", event.file),
            ("CODE_LINE", String(event.line)),
            ("CODE_FUNC", event.function),
        ]
        for key in merged.keys.sorted() {
            guard let name = Self.fieldName(key), let value = merged[key] else { continue }
            fields.append((name, "\(value)"))
        }
        do {
            try socket.send(Self.encode(fields))
        } catch {
            fallback.log(event: event)
        }
    }

    /// syslog priorities: 2 critical, 3 error, 4 warning, 5 notice, 6 info, 7 debug.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .critical: 2
        case .error: 3
        case .warning: 4
        case .notice: 5
        case .info: 6
        case .debug, .trace: 7
        }
    }

    /// A journal field name for a metadata key: upper case letters, digits and `_`, not starting
    /// with `_` (reserved for the journal's trusted fields) or a digit, at most 64 characters.
    static func fieldName(_ key: String) -> String? {
        switch key {
        case "network": return "NETWORK_ID"
        case "vm": return "VM_ID"
        case "nic": return "NIC_ID"
        default: break
        }
        var name = ""
        for scalar in key.unicodeScalars {
            switch scalar {
            case "a"..."z": name.unicodeScalars.append(Unicode.Scalar(scalar.value - 32) ?? "_")
            case "A"..."Z", "0"..."9": name.unicodeScalars.append(scalar)
            default: name += "_"
            }
        }
        guard let first = name.unicodeScalars.first, first != "_", !("0"..."9").contains(first), name.utf8.count <= 64 else { return nil }
        if ["MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "CODE_FILE", "CODE_LINE", "CODE_FUNC", "VNETD_LOGGER"].contains(name) {
            return "VNETD_" + name
        }
        return name
    }

    /// The native protocol: `NAME=value\n`, or for a value holding a newline `NAME\n`, its
    /// length as 64-bit little-endian, the bytes and `\n`.
    static func encode(_ fields: [(String, String)]) -> [UInt8] {
        var bytes: [UInt8] = []
        for (name, value) in fields {
            bytes += name.utf8
            let data = Array(value.utf8)
            if data.contains(UInt8(ascii: "\n")) {
                bytes.append(UInt8(ascii: "\n"))
                withUnsafeBytes(of: UInt64(data.count).littleEndian) { bytes += $0 }
                bytes += data
            } else {
                bytes.append(UInt8(ascii: "="))
                bytes += data
            }
            bytes.append(UInt8(ascii: "\n"))
        }
        return bytes
    }
}
