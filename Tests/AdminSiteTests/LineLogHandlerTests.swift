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
}
