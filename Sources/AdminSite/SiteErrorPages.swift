import Logging
import WebServer

/// Error pages in the site's layout, so a 404 still has the navigation. If the error template
/// itself fails, the plain page is used: an error page must never fail.
struct SiteErrorPages: ErrorPageRendering {
    let renderer: TemplateRenderer
    let info: ServerInfo
    let logger: Logger

    func errorPage(status: Int, message: String, for request: Request) -> Response {
        let title = "\(status) \(HTTPStatus.reason(status))"
        var context = Layout(info: info).context(title: title, section: nil, request: request)
        context["status"] = status
        context["message"] = message
        do {
            return .html(try renderer.render("pages/error", context), status: status)
        } catch {
            logger.error("error page failed", metadata: ["error": "\(LogText.escape("\(error)"))"])
            return PlainErrorPages().errorPage(status: status, message: message, for: request)
        }
    }
}
