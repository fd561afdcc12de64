import Testing
@testable import WebServer

@Suite("Router and helpers, in process")
struct RouterTests {
    @Test func literalRoutesWinOverLaterParameterRoutes() {
        var router = Router()
        router.get("/networks/new") { _ in .text("new") }
        router.get("/networks/{id}") { request in .text("id \(request.pathParameters["id"] ?? "")") }
        #expect(router.respond(to: Request(method: "GET", path: "/networks/new")).bodyText == "new")
        #expect(router.respond(to: Request(method: "GET", path: "/networks/42")).bodyText == "id 42")
        #expect(router.respond(to: Request(method: "GET", path: "/networks/42/")).bodyText == "id 42")
        #expect(router.respond(to: Request(method: "GET", path: "/networks/42/x")).status == 404)
    }

    @Test func httpErrorFromAHandlerBecomesItsStatus() {
        var router = Router()
        router.get("/vms/{id}") { _ in throw HTTPError.notFound("No such virtual machine.") }
        let response = router.respond(to: Request(method: "GET", path: "/vms/9"))
        #expect(response.status == 404)
        #expect(response.bodyText.contains("No such virtual machine."))
    }

    @Test func listenAddressesParse() {
        #expect(ListenAddress(parsing: "127.0.0.1:8080") == ListenAddress(host: "127.0.0.1", port: 8080))
        #expect(ListenAddress(parsing: "[::1]:80") == ListenAddress(host: "::1", port: 80))
        #expect(ListenAddress(parsing: "localhost:0")?.port == 0)
        #expect(ListenAddress(parsing: "8080") == nil)
        #expect(ListenAddress(parsing: "host:99999") == nil)
        #expect(ListenAddress(parsing: "::1:80") == nil)
        #expect(ListenAddress(parsing: "[::1]:80")?.description == "[::1]:80")
    }

    @Test func htmlEscapingCoversMarkupAndQuotes() {
        #expect(HTMLEscaping.escape("<a href=\"x\" onclick='y'>&</a>") == "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;")
    }

    @Test func csrfTokensAreRandomAndWellFormed() {
        let a = CSRFProtection.newToken()
        let b = CSRFProtection.newToken()
        #expect(a != b)
        #expect(CSRFProtection.isWellFormed(a))
        #expect(!CSRFProtection.isWellFormed("zz"))
        for token in [a, b] {
            #expect(token.utf8.count == 64 && token.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }, "64 lower-case hex digits: \(token)")
        }
        #expect(CSRFProtection.constantTimeEqual(a, a))
        #expect(CSRFProtection.constantTimeEqual(a, String(a)))
        #expect(!CSRFProtection.constantTimeEqual(a, b))
        #expect(!CSRFProtection.constantTimeEqual(a, String(a.dropLast())), "a different length")
        #expect(!CSRFProtection.constantTimeEqual(a, a + "0"), "a different length")
        #expect(!CSRFProtection.constantTimeEqual(a, ""))
        let lastChanged = String(a.dropLast()) + (a.hasSuffix("0") ? "1" : "0")
        #expect(!CSRFProtection.constantTimeEqual(a, lastChanged), "one changed last character")
        let firstChanged = (a.hasPrefix("0") ? "1" : "0") + String(a.dropFirst())
        #expect(!CSRFProtection.constantTimeEqual(a, firstChanged), "one changed first character")
    }

    @Test func listenErrorNamesTheAddressAndReason() throws {
        let first = try HTTPServer(
            configuration: HTTPServerConfiguration(listen: ListenAddress(host: "127.0.0.1", port: 0), threads: 1),
            responder: Router(), logger: .init(label: "t"))
        defer { first.stop() }
        #expect {
            try HTTPServer(
                configuration: HTTPServerConfiguration(listen: ListenAddress(host: "127.0.0.1", port: first.port), threads: 1),
                responder: Router(), logger: .init(label: "t"))
        } throws: { error in
            "\(error)".contains("address already in use") && "\(error)".contains("127.0.0.1:\(first.port)")
        }
    }
}
