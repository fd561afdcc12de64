import Foundation
import Logging
import Testing
import TestSupport
@testable import WebServer

/// Requests through the real libmicrohttpd server on 127.0.0.1 with an ephemeral port.
final class LiveServer: @unchecked Sendable {
    let server: HTTPServer
    let client: HTTPTestClient
    let publicFolder: TemporaryDirectory
    let outside: TemporaryDirectory
    let postCount = Counter()

    final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var value = 0
        func increment() { lock.withLock { value += 1 } }
        var current: Int { lock.withLock { value } }
    }

    init(
        maximumBodySize: Int = 64 << 10, connectionTimeoutSeconds: Int = 30, connectionsPerClient: Int? = nil,
        serverNames: [String] = [], logger: Logger? = nil
    ) throws {
        publicFolder = try TemporaryDirectory()
        outside = try TemporaryDirectory()
        let manager = FileManager.default
        try manager.createDirectory(atPath: publicFolder.path + "/css", withIntermediateDirectories: true)
        try Data("body { color: red; }\n".utf8).write(to: URL(fileURLWithPath: publicFolder.path + "/css/site.css"))
        try Data("secret\n".utf8).write(to: URL(fileURLWithPath: publicFolder.path + "/.hidden"))
        try Data("outside secret\n".utf8).write(to: URL(fileURLWithPath: outside.path + "/secret.txt"))
        try manager.createSymbolicLink(atPath: publicFolder.path + "/escape.txt", withDestinationPath: outside.path + "/secret.txt")
        try manager.createSymbolicLink(atPath: publicFolder.path + "/out", withDestinationPath: outside.path)

        var router = Router(logger: logger ?? Logger(label: "test.router", factory: { _ in SwiftLogNoOpLogHandler() }))
        let counter = postCount
        router.get("/") { request in .html("<h1>home</h1><p>token=\(request.csrfToken)</p>") }
        router.get("/networks/{id}") { request in .text("network \(request.pathParameters["id"] ?? "?")") }
        router.get("/echo") { request in
            .text("q=\(request.query["q"] ?? "-") c=\(request.cookies["flavour"] ?? "-")")
        }
        router.get("/boom") { _ in throw DemoFailure(secret: "database password is hunter2") }
        router.post("/form") { request in
            counter.increment()
            let tags = request.form.values("tag").joined(separator: "|")
            let file = request.form.files["upload"].map { "\($0.filename):\($0.contentType ?? "-"):\(String(decoding: $0.content, as: UTF8.self))" } ?? "-"
            return .text("name=\(request.form["name"] ?? "-") tags=\(tags) empty=[\(request.form["empty"] ?? "nil")] file=\(file)")
        }
        router.post("/things") { _ in
            counter.increment()
            return .seeOther("/")
        }
        let files = StaticFiles(root: publicFolder.path)
        router.getPrefix("/static/") { files.respond(to: $0) }
        var quiet = Logger(label: "test")
        quiet.logLevel = .critical
        router.get("/fail/{what}") { _ in throw DemoFailure(secret: "failed") }
        server = try HTTPServer(
            configuration: HTTPServerConfiguration(
                listen: ListenAddress(host: "127.0.0.1", port: 0), threads: 2,
                connectionsPerClient: connectionsPerClient, serverNames: serverNames,
                connectionTimeoutSeconds: connectionTimeoutSeconds, maximumBodySize: maximumBodySize),
            responder: CSRFProtection(wrapping: router),
            logger: logger ?? quiet)
        client = HTTPTestClient(port: server.port)
    }

    /// A CSRF cookie and the matching token, as a browser gets them from any page.
    func session() throws -> (cookie: String, token: String) {
        let page = try client.get("/")
        guard let token = page.cookie(CSRFProtection.cookieName) else { throw HTTPTestClient.ClientError(description: "no cookie") }
        return ("\(CSRFProtection.cookieName)=\(token)", token)
    }

    deinit {
        server.stop()
        publicFolder.remove()
        outside.remove()
    }
}

struct DemoFailure: Error {
    let secret: String
}

@Suite("HTTP server through libmicrohttpd")
struct LiveServerTests {
    let live: LiveServer
    init() throws { live = try LiveServer() }

    @Test func servesPagesWithTypeAndSecurityHeaders() throws {
        let reply = try live.client.get("/")
        #expect(reply.status == 200)
        #expect(reply.header("Content-Type") == "text/html; charset=utf-8")
        #expect(reply.text.contains("<h1>home</h1>"))
        #expect(reply.header("Content-Security-Policy")?.contains("default-src 'self'") == true)
        #expect(reply.header("Content-Security-Policy")?.contains("unsafe-inline") == false)
        #expect(reply.header("X-Content-Type-Options") == "nosniff")
        #expect(reply.header("X-Frame-Options") == "DENY")
        #expect(reply.header("Referrer-Policy") == "same-origin")
        #expect(reply.header("Cache-Control") == "no-store", "pages are never cached")
    }

    @Test func routesPathParametersQueryAndCookies() throws {
        #expect(try live.client.get("/networks/abc-123").text == "network abc-123")
        let echo = try live.client.get("/echo?q=hello%20world", headers: ["Cookie": "flavour=mint; other=1"])
        #expect(echo.text == "q=hello world c=mint")
    }

    @Test func headAnswersHeadersWithoutBody() throws {
        let get = try live.client.get("/networks/7")
        let head = try live.client.send(method: "HEAD", path: "/networks/7")
        #expect(head.status == 200)
        #expect(head.body.isEmpty)
        #expect(head.header("Content-Length") == String(get.body.count))
    }

    @Test func unknownPathIs404AndWrongMethodIs405() throws {
        #expect(try live.client.get("/nowhere").status == 404)
        let session = try live.session()
        let wrong = try live.client.postForm("/networks/1", [("csrf_token", session.token)], headers: ["Cookie": session.cookie])
        #expect(wrong.status == 405)
        #expect(wrong.header("Allow") == "GET, HEAD")
    }

    @Test func failingPageAnswers500WithoutInternalsAndServerKeepsServing() throws {
        let reply = try live.client.get("/boom")
        #expect(reply.status == 500)
        #expect(!reply.text.contains("hunter2"))
        #expect(!reply.text.contains("DemoFailure"))
        #expect(try live.client.get("/").status == 200)
    }

    @Test func staticFileHasTypeETagAndRevalidates() throws {
        let first = try live.client.get("/static/css/site.css")
        #expect(first.status == 200)
        #expect(first.header("Content-Type") == "text/css; charset=utf-8")
        #expect(first.text == "body { color: red; }\n")
        #expect(first.header("Cache-Control") == "no-cache", "stored, but revalidated with the ETag each time")
        let etag = try #require(first.header("ETag"))
        let again = try live.client.get("/static/css/site.css", headers: ["If-None-Match": etag])
        #expect(again.status == 304)
        #expect(again.body.isEmpty)
        let stale = try live.client.get("/static/css/site.css", headers: ["If-None-Match": "\"other\""])
        #expect(stale.status == 200)
    }

    @Test(arguments: [
        "/static/../Package.swift",
        "/static/%2e%2e/%2e%2e/etc/passwd",
        "/static/%2E%2E%2Fetc%2Fpasswd",
        "/static/css/../../etc/passwd",
        "/static//etc/passwd",
        "/static/%2fetc%2fpasswd",
        "/static/.hidden",
        "/static/escape.txt",
        "/static/out/secret.txt",
        "/static/css",
        "/static/",
        "/static/css/site.css%00.png",
    ])
    func pathsLeavingThePublicFolderAre404(path: String) throws {
        let reply = try live.client.get(path)
        #expect(reply.status == 404)
        #expect(!reply.text.contains("secret"))
        #expect(!reply.text.contains("root:"))
    }

    @Test func aChangedFileIsServedFreshAndALinkSwappedInIsRefused() throws {
        let path = live.publicFolder.path + "/css/site.css"
        #expect(try live.client.get("/static/css/site.css").text == "body { color: red; }\n")
        try Data("body { color: blue; }\n".utf8).write(to: URL(fileURLWithPath: path))
        let changed = try live.client.get("/static/css/site.css")
        #expect(changed.text == "body { color: blue; }\n")
        try FileManager.default.removeItem(atPath: path)
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: live.outside.path + "/secret.txt")
        let swapped = try live.client.get("/static/css/site.css")
        #expect(swapped.status == 404)
        #expect(!swapped.text.contains("secret"))
    }

    @Test func postWithoutOrWithWrongTokenIsRefusedAndChangesNothing() throws {
        let before = live.postCount.current
        let bare = try live.client.postForm("/things", [("name", "x")])
        #expect(bare.status == 403)
        let session = try live.session()
        let wrong = try live.client.postForm("/things", [("csrf_token", String(repeating: "0", count: 64))], headers: ["Cookie": session.cookie])
        #expect(wrong.status == 403)
        let noCookie = try live.client.postForm("/things", [("csrf_token", session.token)])
        #expect(noCookie.status == 403)
        let foreign = try live.client.postForm(
            "/things", [("csrf_token", session.token)], headers: ["Cookie": session.cookie, "Origin": "http://evil.example"])
        #expect(foreign.status == 403)
        let wrongHeader = try live.client.postForm(
            "/things", [], headers: ["Cookie": session.cookie, "X-CSRF-Token": String(repeating: "0", count: 64)])
        #expect(wrongHeader.status == 403)
        let headerWithoutCookie = try live.client.postForm("/things", [], headers: ["X-CSRF-Token": session.token])
        #expect(headerWithoutCookie.status == 403)
        let rightHeaderWrongField = try live.client.postForm(
            "/things", [("csrf_token", String(repeating: "0", count: 64))], headers: ["Cookie": session.cookie, "X-CSRF-Token": session.token])
        #expect(rightHeaderWrongField.status == 403, "the form's own token decides")
        #expect(live.postCount.current == before)
    }

    /// Browsers send `Origin: null` from sandboxed frames, `data:` and `file:` pages and after
    /// cross-origin redirects: none of them is this site, so a state change must be refused.
    @Test func postFromAnOpaqueOriginIsRefused() throws {
        let session = try live.session()
        let before = live.postCount.current
        let opaque = try live.client.postForm(
            "/things", [("csrf_token", session.token)], headers: ["Cookie": session.cookie, "Origin": "null"])
        #expect(opaque.status == 403)
        #expect(live.postCount.current == before)
    }

    @Test func postWithTheTokenInTheHeaderRuns() throws {
        let session = try live.session()
        let before = live.postCount.current
        let reply = try live.client.postForm(
            "/things", [], headers: ["Cookie": session.cookie, "X-CSRF-Token": session.token, "Origin": "http://127.0.0.1:\(live.server.port)"])
        #expect(reply.status == 303)
        #expect(live.postCount.current == before + 1)
    }

    @Test func postWithValidTokenRuns() throws {
        let session = try live.session()
        let before = live.postCount.current
        let reply = try live.client.postForm(
            "/things", [("csrf_token", session.token)],
            headers: ["Cookie": session.cookie, "Origin": "http://127.0.0.1:\(live.server.port)"])
        #expect(reply.status == 303)
        #expect(reply.header("Location") == "/")
        #expect(live.postCount.current == before + 1)
    }

    @Test func urlEncodedFormIsDecoded() throws {
        let session = try live.session()
        let reply = try live.client.postForm("/form", [
            ("csrf_token", session.token), ("name", "Lab & Test <1> ünïcode"), ("tag", "a"), ("tag", "b c"), ("empty", ""),
        ], headers: ["Cookie": session.cookie])
        #expect(reply.status == 200)
        #expect(reply.text == "name=Lab & Test <1> ünïcode tags=a|b c empty=[nil] file=-")
    }

    @Test func multipartFormIsDecoded() throws {
        let session = try live.session()
        let boundary = "----vnetdTestBoundary"
        var body = ""
        for (name, value) in [("csrf_token", session.token), ("name", "Multi part"), ("tag", "x")] {
            body += "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n"
        }
        body += "--\(boundary)\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"net.xml\"\r\nContent-Type: application/xml\r\n\r\n<network/>\r\n"
        body += "--\(boundary)--\r\n"
        let reply = try live.client.send(
            method: "POST", path: "/form",
            headers: ["Cookie": session.cookie, "Content-Type": "multipart/form-data; boundary=\(boundary)"],
            body: Array(body.utf8))
        #expect(reply.status == 200)
        #expect(reply.text == "name=Multi part tags=x empty=[nil] file=net.xml:application/xml:<network/>")
    }

    @Test func bodyOverTheLimitIs413() throws {
        let session = try live.session()
        func post(_ framing: String, _ body: [UInt8]) throws -> HTTPTestClient.Reply {
            let connection = try RawConnection(port: live.server.port)
            connection.send("POST /things HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: \(session.cookie)\r\nContent-Type: application/octet-stream\r\n\(framing)Connection: close\r\n\r\n")
            connection.send(body)  // the server may answer and close before reading it all
            return try connection.readReply()
        }
        let big = [UInt8](repeating: UInt8(ascii: "a"), count: 200 << 10)
        #expect(try post("Content-Length: \(big.count)\r\n", big).status == 413)

        var chunked: [UInt8] = []
        for _ in 0..<20 {
            chunked += Array("2800\r\n".utf8) + [UInt8](repeating: UInt8(ascii: "b"), count: 0x2800) + Array("\r\n".utf8)
        }
        chunked += Array("0\r\n\r\n".utf8)
        #expect(try post("Transfer-Encoding: chunked\r\n", chunked).status == 413)
        #expect(try live.client.get("/").status == 200)
    }

    @Test func aClientThatSendsHeadersTooSlowlyIsHungUpOnAndOthersAreServed() throws {
        let live = try LiveServer(connectionTimeoutSeconds: 1)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = live.server.port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        #expect(connected == 0)
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let partial = Array("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ".utf8)
        _ = partial.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        #expect(try live.client.get("/").status == 200, "others are served while the slow client dawdles")
        let started = Date()
        var byte: UInt8 = 0
        let count = read(fd, &byte, 1)
        #expect(count == 0, "the server closed the connection")
        #expect(Date().timeIntervalSince(started) < 9, "well before the client's own 10 s timeout")
    }

    /// A GET whose head is `size` bytes long, one `X-Pad` header making up the length.
    static func head(ofSize size: Int) -> String {
        let start = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nX-Pad: "
        let end = "\r\n\r\n"
        return start + String(repeating: "a", count: size - start.utf8.count - end.utf8.count) + end
    }

    @Test func headersLargerThanTheConnectionMemoryAreRefusedAndTheServerCarriesOn() throws {
        let connection = try RawConnection(port: live.server.port)
        connection.send(Self.head(ofSize: 100 << 10))  // the server may refuse before reading it all
        let (bytes, error) = connection.readUntilClosed()
        if bytes.isEmpty {
            #expect(error == nil || error == ECONNRESET, "closed or reset by the server, not a client timeout (errno \(error ?? 0))")
        } else {
            let reply = try HTTPTestClient.parse(bytes)
            #expect((400...499).contains(reply.status), "refused with a 4xx, not \(reply.status)")
            #expect(!reply.text.contains("home"))
        }
        #expect(try live.client.get("/").status == 200)
    }

    @Test func aHeadJustUnderTheConnectionMemoryIsServed() throws {
        let reply = try RawConnection.exchange(port: live.server.port, Self.head(ofSize: 60 << 10))
        #expect(reply.status == 200)
        #expect(reply.text.contains("home"))
    }

    /// Threads, not tasks: blocking sockets in tasks would occupy the cooperative pool (one thread
    /// per core), leaving about two requests in flight. Every connection is open before any sends.
    @Test func fiftyConcurrentRequestsAreAllAnswered() throws {
        let count = 50
        let port = live.server.port
        let barrier = Barrier(parties: count)
        let results = Results(count: count)
        let threads = (0..<count).map { index in
            Thread {
                let connection = try? RawConnection(port: port, timeoutSeconds: 20)
                barrier.arriveAndWait()  // all connected (or failed to) before anyone sends
                guard let connection else { return results.set(index, .failure(HTTPTestClient.ClientError(description: "connect failed"))) }
                connection.send("GET \(index % 2 == 0 ? "/" : "/static/css/site.css") HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                results.set(index, Result { try connection.readReply().status })
            }
        }
        threads.forEach { $0.start() }
        let statuses = try #require(results.wait(timeoutSeconds: 60), "every thread finished")
        #expect(statuses.count == count)
        for (index, status) in statuses.enumerated() {
            #expect((try? status.get()) == 200, "request \(index): \(status)")
        }
    }
}

/// Lets `parties` threads wait until all of them have arrived.
private final class Barrier: @unchecked Sendable {
    private let condition = NSCondition()
    private var waiting: Int
    init(parties: Int) { waiting = parties }
    func arriveAndWait() {
        condition.lock()
        defer { condition.unlock() }
        waiting -= 1
        if waiting == 0 { condition.broadcast() }
        while waiting > 0 { condition.wait() }
    }
}

/// One result per thread, and a wait for all of them.
private final class Results: @unchecked Sendable {
    private let condition = NSCondition()
    private var values: [Result<Int, any Error>?]
    init(count: Int) { values = Array(repeating: nil, count: count) }
    func set(_ index: Int, _ value: Result<Int, any Error>) {
        condition.lock()
        values[index] = value
        condition.broadcast()
        condition.unlock()
    }
    func wait(timeoutSeconds: Double) -> [Result<Int, any Error>]? {
        let deadline = Date(timeIntervalSinceNow: timeoutSeconds)
        condition.lock()
        defer { condition.unlock() }
        while values.contains(where: { $0 == nil }) {
            if !condition.wait(until: deadline) { return nil }
        }
        return values.compactMap { $0 }
    }
}
