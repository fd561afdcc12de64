import Domain
import Foundation
import WebServer

/// GET/POST /login and GET/POST /logout.
///
/// The sign-in page is the one page served without a session, so it carries its own style sheet
/// inline (allowed by a per-response CSP nonce) instead of linking to `/static/`, which needs one.
struct SignInPage: Sendable {
    let site: SiteContext
    let styleSheet: String
    let logoDataURL: String
    var dependencies: SiteDependencies { site.dependencies }
    var access: AccessControl { dependencies.access }

    func show(_ request: Request) throws -> Response {
        let next = Self.safeNext(request.query["next"])
        if request.administrator != nil { return .seeOther(next) }
        return try render(request, next: next, name: "", message: nil, status: 200)
    }

    func signIn(_ request: Request) throws -> Response {
        let next = Self.safeNext(request.form["next"])
        let name = Self.typedName(request.form["name"] ?? "")
        let password = request.form["password"] ?? ""
        let address = request.clientAddress ?? "unknown address"
        let now = dependencies.clock.now()

        if let wait = access.throttle.waitTime(for: address, now: now) {
            let seconds = Int(wait.rounded(.up))
            var response = try render(
                request, next: next, name: name,
                message: "Too many failed sign-ins from your address. Wait \(seconds) s, then try again.", status: 429)
            response.setHeader("Retry-After", "\(seconds)")
            return response
        }
        guard !name.isEmpty, !password.isEmpty, let administrator = try access.administrators.verify(name: name, password: password) else {
            access.throttle.recordFailure(from: address, now: now)
            let logged = LogText.escape(name)
            try dependencies.eventLog.append(Event(
                time: now, kind: .signInRefused, subject: .administrator(name.isEmpty ? "(no name)" : logged),
                message: "Sign-in as “\(logged)” from \(address) was refused: wrong name or password.", actor: nil))
            return try render(request, next: next, name: name, message: "The name or password is not right.", status: 403)
        }
        access.throttle.recordSuccess(from: address)
        let token = access.sessions.open(for: administrator, now: now)
        try dependencies.eventLog.append(Event(
            time: now, kind: .signedIn, subject: .administrator(administrator.name),
            message: "“\(administrator.name)” signed in from \(address).", actor: administrator.name))
        var response = Response.seeOther(next)
        response.headers.append(("Set-Cookie", SessionGate.cookie(token, secure: access.secureCookies)))
        return response
    }

    func confirmSignOut(_ request: Request) throws -> Response {
        let context = site.layout.context(title: "Sign out", section: .signOut, request: request)
        return .html(try site.renderer.render("pages/logout", context))
    }

    func signOut(_ request: Request) throws -> Response {
        if let token = request.cookies[SessionGate.cookieName], let name = access.sessions.close(token) {
            try dependencies.eventLog.append(Event(
                time: dependencies.clock.now(), kind: .signedOut, subject: .administrator(name),
                message: "“\(name)” signed out.", actor: name))
        }
        var response = Response.seeOther("/login")
        response.headers.append(("Set-Cookie", SessionGate.expiredCookie(secure: access.secureCookies)))
        return response
    }

    private func render(_ request: Request, next: String, name: String, message: String?, status: Int) throws -> Response {
        let nonce = RandomToken.hex(bytes: 16)
        var context: [String: Any] = [
            "csrfToken": request.csrfToken,
            "next": next,
            "name": name,
            "css": styleSheet,
            "logo": logoDataURL,
            "nonce": nonce,
            "hostName": dependencies.info.hostName,
        ]
        if let message { context["message"] = message }
        var response = Response.html(try site.renderer.render("pages/login", context), status: status)
        response.setHeader("Content-Security-Policy", HTTPServerConfiguration.contentSecurityPolicy(styleNonce: nonce))
        return response
    }

    /// The name as typed, cut to 64 Unicode scalars (no account name is longer; a cut by
    /// `Character` would keep a cluster of any size).
    static func typedName(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.prefix(64)))
    }

    /// Where to go after signing in: a path on this site, never another site (`//evil`, `/\evil`).
    static func safeNext(_ text: String?) -> String {
        guard let text, text.hasPrefix("/"), !text.hasPrefix("//"), !text.hasPrefix("/login"), text.utf8.count <= 512,
              text.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7f && $0 != "\\" })
        else { return "/" }
        return text
    }

    static func location(returningTo path: String) -> String {
        let next = safeNext(path)
        guard next != "/" else { return "/login" }
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "/-._~")
        return "/login?next=" + (next.addingPercentEncoding(withAllowedCharacters: allowed) ?? "/")
    }
}
