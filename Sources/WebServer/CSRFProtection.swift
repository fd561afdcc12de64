/// Refuses state-changing requests that were not sent by a form this site rendered.
///
/// Policy (signed double submit is not needed while the token never leaves this origin):
/// - every browser gets a random 256-bit token in an `HttpOnly`, `SameSite=Strict` cookie on its
///   first visit; pages put the same token in a hidden `csrf_token` field of every form;
/// - a POST, PUT, PATCH or DELETE must carry a field (or `X-CSRF-Token` header) equal to its cookie,
///   compared in constant time, and, when the browser sends `Origin`, come from this host;
/// - a refused request gets 403 and never reaches the next responder, so nothing changes;
/// - a state-changing request without the cookie, or from another origin, is refused before
///   its body is read (the token itself is in the body, so that check waits for it).
public struct CSRFProtection: HTTPResponder, ErrorPageRendering {
    public static let cookieName = "vnetd_csrf"
    public static let fieldName = "csrf_token"

    private let next: any HTTPResponder
    private let errorPages: any ErrorPageRendering
    private let secureCookie: Bool

    public init(wrapping next: any HTTPResponder, errorPages: any ErrorPageRendering = PlainErrorPages(), secureCookie: Bool = false) {
        self.next = next
        self.errorPages = errorPages
        self.secureCookie = secureCookie
    }

    public func admission(for head: Request) -> Admission {
        guard Self.changesState(head.method) else { return next.admission(for: head) }
        guard head.cookies[Self.cookieName].map(Self.isWellFormed) == true, sameOrigin(head) else {
            return .refuse(refusal(head))
        }
        return next.admission(for: head)
    }

    public func errorPage(status: Int, message: String, for request: Request) -> Response {
        errorPages.errorPage(status: status, message: message, for: request)
    }

    public func respond(to request: Request) -> Response {
        let existing = request.cookies[Self.cookieName].flatMap { Self.isWellFormed($0) ? $0 : nil }
        var request = request
        request.csrfToken = existing ?? Self.newToken()

        if Self.changesState(request.method) {
            let submitted = request.form[Self.fieldName] ?? request.header("X-CSRF-Token")
            guard let existing, let submitted, Self.constantTimeEqual(existing, submitted), sameOrigin(request) else {
                return refusal(request)
            }
        }
        var response = next.respond(to: request)
        if existing == nil {
            var cookie = "\(Self.cookieName)=\(request.csrfToken); Path=/; HttpOnly; SameSite=Strict"
            if secureCookie { cookie += "; Secure" }
            response.headers.append(("Set-Cookie", cookie))
        }
        return response
    }

    private func refusal(_ request: Request) -> Response {
        errorPages.errorPage(
            status: 403,
            message: "This form has expired or did not come from this site. Reload the page and submit it again.",
            for: request)
    }

    static func changesState(_ method: String) -> Bool {
        method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE"
    }

    /// When the browser names the page's origin, its host must be the host the request was sent
    /// to. `Origin: null` (a sandboxed frame, a data: or file: page, after a cross-origin
    /// redirect) is never this site.
    private func sameOrigin(_ request: Request) -> Bool {
        guard let origin = request.header("Origin") else { return true }
        guard origin != "null" else { return false }
        guard let host = request.header("Host") else { return false }
        let originHost = origin.split(separator: "/", omittingEmptySubsequences: true).dropFirst().first
        return originHost.map(String.init) == host
    }

    static func newToken() -> String { RandomToken.hex(bytes: 32) }

    static func isWellFormed(_ token: String) -> Bool {
        token.utf8.count == 64 && token.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for index in x.indices { difference |= x[index] ^ y[index] }
        return difference == 0
    }
}

/// Unguessable values for cookies, form tokens and nonces, from the system's cryptographic
/// generator (getrandom on Linux), as lower-case hex.
public enum RandomToken {
    public static func hex(bytes: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        let digits = Array("0123456789abcdef")
        var token = ""
        token.reserveCapacity(bytes * 2)
        for _ in 0..<bytes {
            let byte = UInt8.random(in: .min ... .max, using: &generator)
            token.append(digits[Int(byte >> 4)])
            token.append(digits[Int(byte & 0xF)])
        }
        return token
    }
}
