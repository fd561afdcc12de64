import Foundation
import Logging
import Testing
import TestSupport
@testable import WebServer

#if canImport(Glibc)
import Glibc
#endif

/// A responder with the shape of the admin site: `/open` takes small bodies from anyone, other
/// paths need the `pass=1` cookie; it counts the requests it answers and the body bytes it saw.
final class GatedResponder: HTTPResponder, ErrorPageRendering, @unchecked Sendable {
    static let openLimit = 8 << 10
    private let lock = NSLock()
    private var answered = 0
    private var bodyBytes = 0

    var answeredCount: Int { lock.withLock { answered } }
    var bodyBytesSeen: Int { lock.withLock { bodyBytes } }

    func admission(for head: Request) -> Admission {
        if head.cookies["pass"] == "1" { return .accept() }
        if head.path == "/open" { return .accept(maximumBodySize: Self.openLimit) }
        return .refuse(.text("sign in first", status: 401))
    }

    func respond(to request: Request) -> Response {
        let size = request.body.count + request.form.fields.values.reduce(0) { $0 + $1.reduce(0) { $0 + $1.utf8.count } }
        let fields = request.form.fields.values.reduce(0) { $0 + $1.count }
        lock.withLock {
            answered += 1
            bodyBytes += size
        }
        return .text("fields=\(fields) bytes=\(size)")
    }

    func errorPage(status: Int, message: String, for request: Request) -> Response {
        .html("<p class=site>\(HTMLEscaping.escape(message))</p>", status: status)
    }
}

/// Bodies are read only for requests the responder admits, within the responder's limit, and
/// a form costs memory in proportion to what it carries, not to how many pieces it has.
@Suite("Request bodies admitted before they are read")
struct BodyAdmissionTests {
    let responder = GatedResponder()
    let server: HTTPServer

    init() throws {
        var quiet = Logger(label: "test")
        quiet.logLevel = .critical
        server = try HTTPServer(
            configuration: HTTPServerConfiguration(listen: ListenAddress(host: "127.0.0.1", port: 0), threads: 2),
            responder: responder, logger: quiet)
    }

    func head(_ path: String, cookie: String? = nil, length: Int, type: String = "application/x-www-form-urlencoded") -> String {
        let cookieLine = cookie.map { "Cookie: \($0)\r\n" } ?? ""
        return "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\(cookieLine)Content-Type: \(type)\r\nContent-Length: \(length)\r\nConnection: close\r\n\r\n"
    }

    @Test func aRefusedRequestIsAnsweredBeforeItsBodyIsSent() throws {
        let connection = try RawConnection(port: server.port, timeoutSeconds: 5)
        connection.send(head("/private", length: 1 << 20))
        let started = Date()
        let reply = try connection.readReply()
        #expect(reply.status == 401)
        #expect(reply.text == "sign in first")
        #expect(Date().timeIntervalSince(started) < 4, "answered without waiting for the body")
        #expect(responder.answeredCount == 0)
        #expect(responder.bodyBytesSeen == 0)
    }

    @Test func aChunkedBodyOfARefusedRequestIsNotReadEither() throws {
        let connection = try RawConnection(port: server.port, timeoutSeconds: 5)
        connection.send("POST /private HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        #expect(try connection.readReply().status == 401)
        #expect(responder.answeredCount == 0)
    }

    @Test func theRespondersOwnLimitIsApplied() throws {
        let small = "a=" + String(repeating: "x", count: 4000)
        #expect(try RawConnection.exchange(port: server.port, head("/open", length: small.utf8.count) + small).status == 200)

        let large = "a=" + String(repeating: "x", count: GatedResponder.openLimit)
        let declared = try RawConnection(port: server.port, timeoutSeconds: 5)
        declared.send(head("/open", length: large.utf8.count))
        let refused = try declared.readReply()
        #expect(refused.status == 413)
        #expect(refused.text.contains("class=site"), "the responder renders the server's own error pages")

        var chunked = "POST /open HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        for _ in 0..<4 { chunked += "1000\r\n" + String(repeating: "y", count: 0x1000) + "\r\n" }
        chunked += "0\r\n\r\n"
        #expect(try RawConnection.exchange(port: server.port, chunked).status == 413)
        #expect(responder.answeredCount == 1)
    }

    @Test func aFormWithMoreFieldsThanTheBoundIs413() throws {
        let limit = server.configuration.maximumFieldCount
        let within = Array(repeating: "a=1", count: limit).joined(separator: "&")
        let accepted = try RawConnection.exchange(port: server.port, head("/form", cookie: "pass=1", length: within.utf8.count) + within)
        #expect(accepted.status == 200)
        #expect(accepted.text.hasPrefix("fields=\(limit) "))

        let beyond = Array(repeating: "a=1", count: limit + 1).joined(separator: "&")
        let refused = try RawConnection.exchange(port: server.port, head("/form", cookie: "pass=1", length: beyond.utf8.count) + beyond)
        #expect(refused.status == 413)
        #expect(refused.text.contains("fields"))
        #expect(responder.answeredCount == 1)
    }

    @Test func multipartPartsCountAsFields() throws {
        let boundary = "b0undary"
        var body = ""
        for index in 0...server.configuration.maximumFieldCount {
            body += "--\(boundary)\r\nContent-Disposition: form-data; name=\"f\(index)\"\r\n\r\nv\r\n"
        }
        body += "--\(boundary)--\r\n"
        let request = head("/form", cookie: "pass=1", length: body.utf8.count, type: "multipart/form-data; boundary=\(boundary)") + body
        #expect(try RawConnection.exchange(port: server.port, request).status == 413)
    }
}
