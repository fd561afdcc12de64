import Foundation
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The site's two hard bounds, on the real binary as a user starts it: a request body of at most
/// 1 MiB, and at most 1,024 connections at once.
@Suite("The real site's body and connection limits", .serialized)
struct SiteLimitsTests {
    static let bodyLimit = 1 << 20
    static let connectionLimit = 1024

    /// A form of exactly the limit is read and saved; one byte more gets the site's form-size
    /// page and saves nothing. Both are signed-in posts with the token, to the same form.
    @Test func aFormOfOneMiBIsSavedAndOneByteMoreGetsTheFormSizePage() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let vnetd = try VnetdProcess(data: folder.path + "/data", logFile: folder.path + "/vnetd.log")
        let browser = try SignedInClient(port: vnetd.port, initialPasswordFile: folder.path + "/data/initial-admin-password")
        func post(name: String, size: Int) throws -> HTTPTestClient.Reply {
            let start = "csrf_token=\(browser.csrfToken)&name=\(name)&padding="
            let body = Array(start.utf8) + [UInt8](repeating: UInt8(ascii: "x"), count: size - start.utf8.count)
            #expect(body.count == size)
            return try browser.client.send(method: "POST", path: "/networks", headers: [
                "Cookie": browser.cookieHeader, "Content-Type": "application/x-www-form-urlencoded",
            ], body: body)
        }
        let under = try post(name: "Exactly-the-limit", size: Self.bodyLimit)
        #expect(under.status == 303, "a body of exactly 1 MiB is read: \(under.status)")
        let over = try post(name: "One-byte-over", size: Self.bodyLimit + 1)
        #expect(over.status == 413)
        #expect(over.text.contains("The request body is larger than this server accepts.") && over.text.contains("</html>"),
                "the site's own page says why: \(over.text.prefix(300))")
        let list = try browser.get("/networks").text
        #expect(list.contains("Exactly-the-limit"), "the form at the limit was saved")
        #expect(!list.contains("One-byte-over"), "the refused one saved nothing")
        #expect(vnetd.stop() == "exit 0")
        #expect(vnetd.errorLines().isEmpty, "\(vnetd.errorLines())")
    }

    /// 1,024 clients hold a connection each (a request half sent, as a slow browser does). The
    /// next one is not served while they hold them; the ones holding are still answered; once one
    /// lets go the waiting client is served, and once all let go the site serves as before.
    /// vnetd starts with the soft open-file limit systemd gives a service (1,024), which alone
    /// would not hold 1,024 connections plus its own files.
    @Test func theThousandTwentyFifthConnectionWaitsWhileTheOthersAreServed() throws {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        limit.rlim_cur = max(limit.rlim_cur, min(limit.rlim_max, 4096))
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        try #require(limit.rlim_cur > rlim_t(Self.connectionLimit + 64), "this test process needs more than 1,088 open files")

        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let vnetd = try VnetdProcess(data: folder.path + "/data", logFile: folder.path + "/vnetd.log",
                                     launcher: ["prlimit", "--nofile=1024:\(limit.rlim_max)", "--"])
        let head = "GET /login HTTP/1.1\r\nHost: 127.0.0.1:\(vnetd.port)\r\nConnection: close\r\n"
        var held: [RawConnection] = []
        for _ in 0..<Self.connectionLimit {
            let connection = try RawConnection(port: vnetd.port, timeoutSeconds: 20)
            #expect(connection.send(head))
            held.append(connection)
        }
        let waiting = try RawConnection(port: vnetd.port, timeoutSeconds: 3)
        #expect(waiting.send(head + "\r\n"))
        let whileFull = waiting.readUntilClosed()
        #expect(whileFull.bytes.isEmpty, "not served while 1,024 are held: \(String(decoding: whileFull.bytes.prefix(80), as: UTF8.self))")
        let refusedOutright = whileFull.error == nil || whileFull.error == ECONNRESET

        let last = held.removeLast()
        #expect(last.send("\r\n"))
        let answered = try HTTPTestClient.parse(last.readToEnd())
        #expect(answered.status == 200, "a connection held at the cap is still served")
        if refusedOutright {
            Issue.record("the 1,025th connection was closed rather than kept waiting")
        } else {
            var timeout = timeval(tv_sec: 20, tv_usec: 0)
            setsockopt(waiting.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let served = try HTTPTestClient.parse(waiting.readToEnd())
            #expect(served.status == 200, "once a slot frees the waiting client is served")
        }
        held.removeAll()
        #expect(eventually(10) { (try? HTTPTestClient(port: vnetd.port).get("/login").status) == 200 }, "the server recovers")
        #expect(vnetd.isRunning)
        #expect(vnetd.stop() == "exit 0")
        let unexpected = vnetd.errorLines()
        #expect(unexpected.isEmpty, "\(unexpected.prefix(3))")
    }
}
