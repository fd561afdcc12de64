import Domain
import WebServer

/// What an action did, told on the page it redirects to.
///
/// Every change a service makes records an event in the same transaction, so the events an
/// action recorded are exactly what it did. The action notes the newest event id before it
/// runs; the redirect carries the range of ids recorded after it (`?done=12-14`), and the page
/// shows those events' messages, only those recorded for the administrator who is reading.
/// An action that changed nothing recorded nothing and gets no notice. A crafted link can only
/// repeat that administrator's own events, never invent a message.
enum Notices {
    /// Events one notice shows at most.
    static let maximumCount: Int64 = 20

    /// The id of the newest event now; taken before an action runs.
    static func mark(_ site: SiteContext) -> Int64 {
        (try? site.dependencies.eventLog.newestID()) ?? 0
    }

    /// `path` with `done=` for the events recorded after `mark` (the path unchanged when there are none).
    static func redirect(_ path: String, since mark: Int64, _ site: SiteContext) -> Response {
        guard let newest = try? site.dependencies.eventLog.newestID(), newest > mark else { return .seeOther(path) }
        let separator = path.contains("?") ? "&" : "?"
        // A large change (a network with many adapters removed) names its first events only.
        return .seeOther("\(path)\(separator)done=\(mark + 1)-\(min(newest, mark + maximumCount))")
    }

    /// The messages of the events `?done=` names that the signed-in administrator recorded, oldest first.
    static func messages(_ request: Request, _ site: SiteContext) -> [String] {
        guard let administrator = request.administrator, let range = range(request.query["done"]) else { return [] }
        let query = EventQuery(ids: range, actor: administrator)
        guard let page = try? site.dependencies.eventLog.page(offset: 0, limit: 20, matching: query) else { return [] }
        return page.events.reversed().map(\.message)
    }

    /// "12-14" as a range of at most `maximumCount` ids; nil for anything else.
    static func range(_ text: String?) -> ClosedRange<Int64>? {
        guard let text, text.utf8.count <= 41 else { return nil }
        let parts = text.split(separator: "-", maxSplits: 1)
        guard parts.count == 2, let low = Int64(parts[0]), let high = Int64(parts[1]), low > 0, low <= high, high - low < maximumCount else { return nil }
        return low...high
    }

    /// Sets `notices` for `partials/form-errors` when the request names any.
    static func apply(_ request: Request, _ site: SiteContext, to context: inout [String: Any]) {
        let messages = messages(request, site)
        if !messages.isEmpty {
            context["notices"] = messages
            context["hasNotices"] = true
        }
    }
}
