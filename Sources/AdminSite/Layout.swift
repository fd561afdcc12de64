import Domain
import WebServer

/// The sections of the left navigation; a page names the one it belongs to.
enum Section: String {
    case status, events, signOut, account, networks, createNetwork, addNetwork, vms, createVM, adapters
}

/// Builds the values every page shares: the layout's navigation state, the CSRF token for forms,
/// the optional auto-refresh, and server facts.
struct Layout: Sendable {
    let info: ServerInfo

    func context(title: String, section: Section?, request: Request) -> [String: Any] {
        var context: [String: Any] = [
            "pageTitle": title,
            "csrfToken": request.csrfToken,
            "site": ["version": info.version, "hostName": info.hostName],
        ]
        if let administrator = request.administrator { context["administrator"] = administrator }
        if let section { context["nav"] = [section.rawValue: true] }
        if let refusal = request.headers[OversizeForms.refusalHeader] {
            context["formRefusal"] = refusal
        }
        if let refresh = Self.refreshSeconds(request) {
            context["refresh"] = refresh
        }
        return context
    }

    /// `?refresh=N` asks the page to reload itself every N seconds (2 to 3600), without JavaScript.
    static func refreshSeconds(_ request: Request) -> Int? {
        guard let text = request.query["refresh"], let seconds = Int(text), (2...3600).contains(seconds) else {
            return nil
        }
        return seconds
    }
}
