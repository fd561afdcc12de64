import Application
import Foundation
import Logging
import Testing
import TestSupport
import WebServer

/// What a visitor who is not signed in can make vnetd read: nothing but a small sign-in form.
@Suite("Request bodies and the session, through libmicrohttpd")
final class RequestBodyLimitTests {
    let folder: TemporaryDirectory
    let app: VnetdApplication
    let port: UInt16

    init() throws {
        folder = try TemporaryDirectory()
        var quiet = Logger(label: "test")
        quiet.logLevel = .critical
        app = try buildApplication(
            Configuration(
                listen: ListenAddress(host: "127.0.0.1", port: 0), dataDirectory: folder.path + "/data",
                templatesDirectory: repositoryRoot + "/Templates", publicDirectory: repositoryRoot + "/Public", threads: 2),
            logger: quiet)
        port = app.port
    }

    deinit {
        app.shutdown()
        folder.remove()
    }

    func csrfCookie() throws -> String {
        let form = try HTTPTestClient(port: port).get("/login")
        guard let token = form.cookie("vnetd_csrf") else { throw HTTPTestClient.ClientError(description: "no CSRF cookie") }
        return token
    }

    func head(_ path: String, cookie: String, length: Int) -> String {
        "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: \(cookie)\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: \(length)\r\nConnection: close\r\n\r\n"
    }

    @Test(arguments: ["/networks", "/networks/import", "/logout", "/account/password"])
    func aPostWithoutASessionIsRefusedBeforeItsBodyIsSent(path: String) throws {
        let token = try csrfCookie()
        let connection = try RawConnection(port: port, timeoutSeconds: 5)
        connection.send(head(path, cookie: "vnetd_csrf=\(token); vnetd_session=0123", length: 1 << 20))
        let started = Date()
        let reply = try connection.readReply()
        #expect(reply.status == 401)
        #expect(Date().timeIntervalSince(started) < 4, "answered without waiting for the body")
    }

    @Test func aGetWithABodyAndNoSessionIsSentToSignInUnread() throws {
        let connection = try RawConnection(port: port, timeoutSeconds: 5)
        connection.send("GET /networks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1048576\r\nConnection: close\r\n\r\n")
        let reply = try connection.readReply()
        #expect(reply.status == 303)
        #expect(reply.header("Location")?.hasPrefix("/login") == true)
    }

    @Test func aPostWithoutTheFormCookieIsRefusedBeforeItsBodyIsSent() throws {
        let connection = try RawConnection(port: port, timeoutSeconds: 5)
        connection.send(head("/login", cookie: "other=1", length: 4000))
        #expect(try connection.readReply().status == 403)
    }

    @Test func theSignInFormIsCappedAtEightKilobytes() throws {
        let token = try csrfCookie()
        let padding = String(repeating: "x", count: 8 << 10)
        let body = "csrf_token=\(token)&name=admin&password=\(padding)"
        let declared = try RawConnection(port: port, timeoutSeconds: 5)
        declared.send(head("/login", cookie: "vnetd_csrf=\(token)", length: body.utf8.count))
        let refused = try declared.readReply()
        #expect(refused.status == 413)

        var chunked = "POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: vnetd_csrf=\(token)\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        chunked += String(body.utf8.count, radix: 16) + "\r\n" + body + "\r\n0\r\n\r\n"
        #expect(try RawConnection.exchange(port: port, chunked).status == 413)

        let wrong = try HTTPTestClient(port: port).postForm(
            "/login", [("csrf_token", token), ("name", "admin"), ("password", "not it")], headers: ["Cookie": "vnetd_csrf=\(token)"])
        #expect(wrong.status == 403, "a sign-in form of ordinary size is read and judged")
    }

    /// The form comes back, with the reason, instead of an error page that loses the page.
    @Test func aSignedInFormWithTooManyFieldsIs413WithTheFormAndTheReason() throws {
        let client = try SignedInClient(port: port, initialPasswordFile: try #require(app.initialPasswordFile))
        let fields = (0..<2001).map { ("f\($0)", "1") }
        let reply = try client.post("/networks", [("name", "many")] + fields)
        #expect(reply.status == 413)
        #expect(reply.text.contains("2000 fields") || reply.text.contains("2,000 fields"))
        #expect(reply.text.contains("<h1>Create Virtual Network</h1>"), "the form it came from")
        #expect(reply.text.contains("Nothing was saved."))
        #expect(try client.get("/").status == 200)
    }
}
