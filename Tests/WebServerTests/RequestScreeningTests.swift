import Foundation
import Logging
import Testing
import TestSupport
@testable import WebServer

#if canImport(Glibc)
import Glibc
#endif

/// Requests refused before any page sees them: foreign host names (DNS rebinding), bodies framed
/// two ways (smuggling), too many connections from one address; and log lines a request cannot forge.
@Suite("Request screening in the HTTP server")
struct RequestScreeningTests {
    static func get(_ port: UInt16, host: String?, version: String = "HTTP/1.1", path: String = "/") throws -> HTTPTestClient.Reply {
        let hostLine = host.map { "Host: \($0)\r\n" } ?? ""
        return try RawConnection.exchange(port: port, "GET \(path) \(version)\r\n\(hostLine)Connection: close\r\n\r\n")
    }

    @Test func onlyTheNamesThisServerServesAreAnswered() throws {
        let live = try LiveServer(serverNames: ["vnetd.example", "proxy.example:8443"])
        let port = live.server.port
        for host in ["127.0.0.1:\(port)", "localhost:\(port)", "127.0.0.1", "LOCALHOST.:\(port)", "[::1]:\(port)",
                     "vnetd.example", "vnetd.example:\(port)", "vnetd.example:1234", "proxy.example:8443"] {
            #expect(try Self.get(port, host: host).status == 200, "Host: \(host)")
        }
        for host in ["evil.example", "evil.example:\(port)", "127.0.0.1:\(port &+ 1)", "proxy.example", "localhost.evil.example",
                     "127.0.0.1:\(port)@evil.example", "127.0.0.1:99999", "::1", ""] {
            let reply = try Self.get(port, host: host)
            #expect(reply.status == 421 || host.isEmpty && reply.status == 400, "Host: \(host) got \(reply.status)")
            #expect(!reply.text.contains("home"))
        }
    }

    @Test func aForeignHostIsRefusedBeforeTheBodyIsRead() throws {
        let live = try LiveServer()
        let connection = try RawConnection(port: live.server.port, timeoutSeconds: 5)
        connection.send("POST /things HTTP/1.1\r\nHost: evil.example\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\n")
        let started = Date()
        let reply = try connection.readReply()
        #expect(reply.status == 421)
        #expect(Date().timeIntervalSince(started) < 4, "answered without waiting for the body")
        #expect(live.postCount.current == 0)
    }

    @Test func hostIsRequiredOnceOnHTTP11() throws {
        let live = try LiveServer()
        let port = live.server.port
        #expect(try Self.get(port, host: nil).status == 400)
        #expect(try Self.get(port, host: nil, version: "HTTP/1.0").status == 200)
        let twice = try RawConnection.exchange(port: port, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
        #expect(twice.status == 400)
    }

    @Test(arguments: [
        "Content-Length: 5\r\nContent-Length: 6\r\n",
        "Content-Length: 5, 6\r\n",
        "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
    ])
    func aBodyFramedTwoWaysIs400(framing: String) throws {
        let live = try LiveServer()
        let session = try live.session()
        let body = "csrf_token=\(session.token)&a=1"
        let connection = try RawConnection(port: live.server.port)
        connection.send("POST /things HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: \(session.cookie)\r\nContent-Type: application/x-www-form-urlencoded\r\n\(framing)Connection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n\(body)")
        let reply = try connection.readReply()
        #expect(reply.status == 400)
        #expect(live.postCount.current == 0)
        #expect(try live.client.get("/").status == 200)
    }

    @Test func aRepeatedEqualLengthIsAccepted() throws {
        let live = try LiveServer()
        let session = try live.session()
        let body = "csrf_token=\(session.token)"
        let reply = try RawConnection.exchange(port: live.server.port, "POST /things HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: \(session.cookie)\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: \(body.utf8.count)\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)")
        #expect(reply.status == 303)
    }

    @Test func oneAddressCannotHoldMoreThanItsShareOfConnections() throws {
        let live = try LiveServer(connectionsPerClient: 4)
        let port = live.server.port
        var held: [RawConnection] = []
        for _ in 0..<4 {
            let connection = try RawConnection(port: port, timeoutSeconds: 3)
            connection.send("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            held.append(connection)
        }
        Thread.sleep(forTimeInterval: 0.3)
        let extra = try RawConnection(port: port, timeoutSeconds: 3)
        extra.send("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        #expect(extra.readToEnd().isEmpty, "the fifth connection is closed unanswered")

        held.removeFirst()
        // Each try waits at most 3 s (a busy machine may be slow to notice the close), 10 s in all.
        var status: Int?
        let deadline = Date().addingTimeInterval(10)
        while status != 200 && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.1)
            if let connection = try? RawConnection(port: port, timeoutSeconds: 3),
               connection.send("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n") {
                status = try? connection.readReply().status
            }
        }
        #expect(status == 200, "a slot freed by closing is usable again")
        _ = held
    }

    @Test func theDefaultPerClientLimitLeavesLoopbackAloneAndGuardsOtherAddresses() {
        #expect(HTTPServerConfiguration(listen: ListenAddress(host: "127.0.0.1", port: 0)).connectionsPerClient == 0)
        #expect(HTTPServerConfiguration(listen: ListenAddress(host: "0.0.0.0", port: 0)).connectionsPerClient == 64)
        #expect(HTTPServerConfiguration(listen: ListenAddress(host: "0.0.0.0", port: 0), connectionsPerClient: 8).connectionsPerClient == 8)
    }

    @Test(arguments: ["%0a", "%0d%0a", "%e2%80%a8", "%1b%5b31m", "%c2%85"])
    func aPathCannotWriteASecondLogLine(separator: String) throws {
        let capture = LogCapture()
        let live = try LiveServer(logger: capture.logger)
        let forged = "\(separator)2030-01-01T00:00:00Z%20info%20vnetd:%20GET%20forged%20200%200"
        #expect(try live.client.get("/echo\(forged)").status == 404)
        #expect(try live.client.get("/fail/x\(forged)").status == 500)
        let lines = capture.text.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.isEmpty }
        #expect(lines.filter { $0.contains("forged") }.count == 3, "one access line each, one error line: \(lines)")
        #expect(lines.allSatisfy { !$0.hasPrefix("2030") })
        #expect(!capture.text.unicodeScalars.contains { ["\r", "\u{1B}", "\u{2028}", "\u{85}"].contains($0) })
    }

    @Test func logTextEscapesPerScalarAndIsBounded() {
        #expect(LogText.escape("a\nb\\c\u{2028}\u{202E}é") == "a\\u{A}b\\\\c\\u{2028}\\u{202E}é")
        #expect(LogText.escape(String(repeating: "x", count: 5000)).utf8.count <= LogText.maximumBytes + 3)
    }

    @Test func allowedHostsOnAllAddressesTakeAddressLiteralsButNoForeignName() {
        let any = AllowedHosts(listen: ListenAddress(host: "0.0.0.0", port: 8080), boundPort: 8080, serverNames: [])
        #expect(any.allows("192.0.2.7:8080"))
        #expect(any.allows("[2001:db8::1]:8080"))
        #expect(any.allows("localhost"))
        #expect(!any.allows("evil.example:8080"))
        #expect(!any.allows("192.0.2.7:9090"))
        #expect(!any.allows("0x7f.1:8080"))
        let specific = AllowedHosts(listen: ListenAddress(host: "192.0.2.7", port: 8443), boundPort: 8443, serverNames: [])
        #expect(specific.allows("192.0.2.7:8443"))
        #expect(!specific.allows("localhost:8443"))
        #expect(!specific.allows("192.0.2.8:8443"))
    }
}

extension RequestScreeningTests {
    @Test func overHTTPSTheCertificatesNamesAreServed() throws {
        let made = try SelfSignedCertificate.generate(names: ["vnetd.test", "127.0.0.1", "*.lab.example"])
        #expect(made.identity.certificateNames == ["vnetd.test", "*.lab.example"])
        #expect(TLSIdentity(certificatePEM: "not a certificate", keyPEM: "").certificateNames.isEmpty)
        let hosts = AllowedHosts(
            listen: ListenAddress(host: "127.0.0.1", port: 8443), boundPort: 8443, serverNames: [],
            certificateNames: made.identity.certificateNames)
        #expect(hosts.allows("vnetd.test:8443"))
        #expect(hosts.allows("VNETD.TEST"))
        #expect(hosts.allows("box.lab.example:8443"))
        #expect(!hosts.allows("lab.example"))
        #expect(!hosts.allows("a.box.lab.example"))
        #expect(!hosts.allows(".lab.example"))
        #expect(!hosts.allows("evil.example"))
    }
}

/// Keeps every log record a `Logger` made, each rendered as `level message metadata` — what a
/// line-per-record handler would write — so tests can count lines.
public final class LogCapture: @unchecked Sendable {
    private let lock = NSLock()
    private var records: [String] = []

    public init() {}

    public var logger: Logger {
        Logger(label: "capture") { _ in Handler(capture: self) }
    }

    public var text: String { lock.withLock { records.map { $0 + "\n" }.joined() } }

    fileprivate func append(_ record: String) { lock.withLock { records.append(record) } }

    struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var metadataProvider: Logger.MetadataProvider?
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let fields = metadata.merging(event.metadata ?? [:]) { $1 }
            let rendered = fields.keys.sorted().map { "\($0)=\(fields[$0].map { "\($0)" } ?? "")" }.joined(separator: " ")
            capture.append("\(event.level) \(event.message) \(rendered)")
        }
    }
}
