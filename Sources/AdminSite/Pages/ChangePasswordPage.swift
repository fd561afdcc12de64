import Domain
import WebServer

/// GET/POST /account/password — the signed-in administrator changes their own password.
///
/// The current password is asked again (a session left open on a shared screen is not enough),
/// and a wrong one counts as a failed sign-in from that address. Password fields are never sent
/// back to the browser, not even when the form comes back with a message. On success this
/// browser gets a fresh session; every other session of the account ends within seconds.
struct ChangePasswordPage: Sendable {
    let site: SiteContext
    static let fields: Set<String> = ["current", "password", "repeat"]
    var access: AccessControl { site.dependencies.access }

    func show(_ request: Request) throws -> Response {
        try render(request, errors: FormErrors(), changed: request.query["changed"] == "1", status: 200)
    }

    func save(_ request: Request) throws -> Response {
        guard let name = request.administrator else { throw HTTPError(status: 401, message: "Sign in first.") }
        let address = request.clientAddress ?? "unknown address"
        let now = site.dependencies.clock.now()
        if let wait = access.throttle.waitTime(for: address, now: now) {
            let failure = ValidationFailure(.passwordInvalid, field: "current",
                                            "Too many wrong passwords from your address. Wait \(Int(wait.rounded(.up))) s, then try again.")
            return try render(request, errors: FormErrors(failure, knownFields: Self.fields), changed: false, status: 429)
        }
        guard try access.administrators.verify(name: name, password: request.field("current")) != nil else {
            access.throttle.recordFailure(from: address, now: now)
            let failure = ValidationFailure(.passwordInvalid, field: "current", "This is not your current password.")
            return try render(request, errors: FormErrors(failure, knownFields: Self.fields), changed: false, status: 422)
        }
        let password = request.field("password")
        guard password == request.field("repeat") else {
            let failure = ValidationFailure(.passwordInvalid, field: "repeat", "The two new passwords differ.")
            return try render(request, errors: FormErrors(failure, knownFields: Self.fields), changed: false, status: 422)
        }
        let updated: Administrator
        do {
            updated = try access.administrators.changePassword(name: name, to: password)
        } catch let failure as ValidationFailure {
            return try render(request, errors: FormErrors(failure, knownFields: Self.fields), changed: false, status: 422)
        }
        access.throttle.recordSuccess(from: address)
        access.passwordChanged(updated.name)
        if let old = request.cookies[SessionGate.cookieName] { access.sessions.close(old) }
        let token = access.sessions.open(for: updated, now: now)
        var response = Response.seeOther("/account/password?changed=1")
        response.headers.append(("Set-Cookie", SessionGate.cookie(token, secure: access.secureCookies)))
        return response
    }

    private func render(_ request: Request, errors: FormErrors, changed: Bool, status: Int) throws -> Response {
        var context = site.layout.context(title: "Change your password", section: .account, request: request)
        if changed { context["notice"] = "Your password was changed. Sessions in other browsers end within seconds." }
        context["minimumLength"] = AdministratorRules.passwordLength.lowerBound
        errors.apply(to: &context)
        return .html(try site.renderer.render("pages/password", context), status: status)
    }
}
