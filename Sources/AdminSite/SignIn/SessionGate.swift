import Domain
import Foundation
import WebServer

/// Lets a request through only with an open session, except the sign-in page itself.
///
/// Policy: every route and every static file needs a signed-in administrator. Without one, a
/// GET or HEAD is sent to `/login?next=<path>`; any other method gets 401 and changes nothing.
/// With one, the request carries `administrator`, and the handler runs with `Acting.administrator`
/// bound, so every event it records names who made the change.
///
/// The same check runs before the body is read (`admission(for:)`): without a session nothing
/// of a request's body is read, except on the sign-in page, whose form is capped at
/// `openBodyLimit` bytes.
struct SessionGate: HTTPResponder {
    static let cookieName = "vnetd_session"
    /// The only paths served without a session.
    static let openPaths: Set<String> = ["/login"]
    /// The most body bytes read without a session: a sign-in form is a name, a password and a token.
    static let openBodyLimit = 8 << 10

    let next: any HTTPResponder
    let access: AccessControl
    let clock: any Clock
    let errorPages: any ErrorPageRendering

    func admission(for head: Request) -> Admission {
        if let token = head.cookies[Self.cookieName], access.sessions.administrator(for: token, now: clock.now()) != nil {
            return next.admission(for: head)
        }
        if Self.openPaths.contains(head.path) {
            return .accept(maximumBodySize: Self.openBodyLimit)
        }
        return .refuse(refusal(head))
    }

    func respond(to request: Request) -> Response {
        var request = request
        let token = request.cookies[Self.cookieName]
        if let token, let name = access.sessions.administrator(for: token, now: clock.now()) {
            request.administrator = name
            return Acting.$administrator.withValue(name) { next.respond(to: request) }
        }
        if Self.openPaths.contains(request.path) {
            return next.respond(to: request)
        }
        return refusal(request)
    }

    /// The answer to a request without a session, off the sign-in page.
    private func refusal(_ request: Request) -> Response {
        let token = request.cookies[Self.cookieName]
        var response: Response
        if request.method == "GET" || request.method == "HEAD" {
            response = .seeOther(SignInPage.location(returningTo: request.path))
        } else {
            response = errorPages.errorPage(
                status: 401, message: "You are not signed in, or your session has ended. Sign in, then make the change again.",
                for: request)
        }
        if token != nil { response.headers.append(("Set-Cookie", Self.expiredCookie(secure: access.secureCookies))) }
        return response
    }

    static func cookie(_ token: String, secure: Bool) -> String {
        "\(cookieName)=\(token); Path=/; HttpOnly; SameSite=Strict" + (secure ? "; Secure" : "")
    }

    static func expiredCookie(secure: Bool) -> String {
        "\(cookieName)=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict" + (secure ? "; Secure" : "")
    }
}
