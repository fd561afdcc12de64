import Domain
import WebServer

/// A form the server refused for its size (413) comes back as that form, with the reason, instead
/// of a bare error page: the request is answered as a GET of the page the form was on, through
/// the whole site (CSRF, session gate, router), so only a signed-in administrator gets a form.
///
/// The body was never read whole, so the typed values cannot be shown; the page says so, and the
/// forms state and enforce their limits (`maxlength`) so a browser does not send such a form.
struct OversizeForms: HTTPResponder, ErrorPageRendering {
    let next: any HTTPResponder & ErrorPageRendering
    /// Set only here, on the internal GET; removed from every request that comes from outside.
    static let refusalHeader = "x-vnetd-form-refusal"

    func admission(for head: Request) -> Admission {
        next.admission(for: Self.outside(head))
    }

    func respond(to request: Request) -> Response {
        next.respond(to: Self.outside(request))
    }

    func errorPage(status: Int, message: String, for request: Request) -> Response {
        guard status == 413, request.method == "POST", let page = Self.formPage(for: request.path) else {
            return next.errorPage(status: status, message: message, for: request)
        }
        var form = Request(method: "GET", path: page, headers: Self.outside(request).headers, cookies: request.cookies, clientAddress: request.clientAddress)
        form.headers[Self.refusalHeader] = message
        var response = next.respond(to: form)
        guard response.status == 200 else { return next.errorPage(status: status, message: message, for: request) }
        response.status = 413
        return response
    }

    static func outside(_ request: Request) -> Request {
        guard request.headers[refusalHeader] != nil else { return request }
        var request = request
        request.headers[refusalHeader] = nil
        return request
    }

    /// The page whose form posts to `path`, for the site's forms.
    static func formPage(for path: String) -> String? {
        switch path {
        case "/networks": return "/networks/new"
        case "/vms": return "/vms/new"
        case "/networks/import", "/adapters", "/account/password": return path
        default: break
        }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 4, parts[0].isEmpty, PathID.isWellFormed(parts[2]) else { return nil }
        switch (parts[1], parts[3]) {
        case ("networks", "settings"), ("networks", "dhcp"), ("vms", "settings"), ("vms", "nics"): return path
        default: return nil
        }
    }
}
