import Application
import Foundation
import Logging
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Log lines")
struct LineLogHandlerTests {
    @Test func oneLinePerRecordWithUTCTimeLevelLabelAndSortedMetadata() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer { close(fds[0]) }
        var logger = Logger(label: "vnetd") { LineLogHandler(label: $0, level: .info, descriptor: fds[1]) }
        logger[metadataKey: "component"] = "http"
        logger.info("GET / 200 2762", metadata: ["ms": "0.12", "client": "127.0.0.1"])
        logger.debug("not shown")
        close(fds[1])
        let output = FileHandle(fileDescriptor: fds[0]).readDataToEndOfFile()
        let lines = String(decoding: output, as: UTF8.self).split(separator: "\n")
        #expect(lines.count == 1)
        let line = try #require(lines.first)
        #expect(line.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ info vnetd: GET \/ 200 2762 client=127\.0\.0\.1 component=http ms=0\.12/) != nil)
    }

    /// Whatever a caller forgot to escape, no value can start a forged line at the sink.
    @Test func controlCharactersInMessagesAndMetadataNeverBreakTheLine() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer { close(fds[0]) }
        let logger = Logger(label: "vnetd") { LineLogHandler(label: $0, level: .info, descriptor: fds[1]) }
        logger.warning("port for vm\n2026-01-01T00:00:00Z critical vnetd: forged", metadata: ["name": "a\r\nb\u{2028}c\u{85}d\u{1B}[31m"])
        close(fds[1])
        let text = String(decoding: FileHandle(fileDescriptor: fds[0]).readDataToEndOfFile(), as: UTF8.self)
        #expect(text.split(separator: "\n").count == 1, "one record, one line: \(text)")
        #expect(text.contains("vm\\u{A}2026"))
        #expect(!text.unicodeScalars.contains { $0 == "\r" || $0 == "\u{2028}" || $0 == "\u{85}" || $0 == "\u{1B}" })
    }
}
