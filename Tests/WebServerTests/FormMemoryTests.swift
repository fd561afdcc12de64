import Foundation
import Logging
import Testing
import TestSupport
@testable import WebServer

#if canImport(Glibc)
import Glibc
#endif

/// This process's resident memory in bytes, from /proc/self/status.
func residentBytes() throws -> Int {
    let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
    guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
          let kilobytes = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) })
    else { throw HTTPTestClient.ClientError(description: "no VmRSS") }
    return kilobytes * 1024
}

/// Many clients posting large forms of tiny fields at once must not exhaust the server: a
/// request's memory is bounded by its body limit and the field bound, not by its field count.
@Suite("Memory held by slow form posts")
struct FormMemoryTests {
    @Test func twentySlowMegabyteFormsKeepResidentMemoryBounded() throws {
        let responder = GatedResponder()
        var quiet = Logger(label: "test")
        quiet.logLevel = .critical
        let server = try HTTPServer(
            configuration: HTTPServerConfiguration(listen: ListenAddress(host: "127.0.0.1", port: 0), threads: 2),
            responder: responder, logger: quiet)
        defer { server.stop() }
        let limit = server.configuration.maximumBodySize
        let field = Array("a=1&".utf8)
        let body = Array((0..<(limit / field.count)).lazy.flatMap { _ in field })
        let head = "POST /form HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: pass=1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        #expect(try RawConnection.exchange(port: server.port, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: pass=1\r\nConnection: close\r\n\r\n").status == 200)

        let before = try residentBytes()
        let connections = try (0..<20).map { _ in try RawConnection(port: server.port, timeoutSeconds: 30) }
        for connection in connections { connection.send(head) }
        let piece = 64 << 10
        var sent = 0
        while sent < body.count - 16 {
            let end = min(sent + piece, body.count - 16)
            for connection in connections { connection.send(Array(body[sent..<end])) }
            sent = end
            Thread.sleep(forTimeInterval: 0.01)
        }
        Thread.sleep(forTimeInterval: 0.5)
        let during = try residentBytes()
        for connection in connections { connection.send(Array(body[sent...])) }
        let statuses = try connections.map { try $0.readReply().status }
        let growth = during - before
        #expect(growth < 64 << 20, "resident memory grew by \(growth >> 20) MiB with 20 forms in flight")
        #expect(statuses.allSatisfy { $0 == 413 }, "each form has more fields than the bound: \(statuses)")
    }
}
