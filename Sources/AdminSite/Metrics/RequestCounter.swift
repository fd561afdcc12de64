import Synchronization
import WebServer

/// Counts the site's answers by status code, for `vnetd_http_requests_total`.
public final class RequestCounter: Sendable {
    private let counts = Mutex<[Int: UInt64]>([:])

    public init() {}

    func count(_ status: Int) {
        counts.withLock { $0[status, default: 0] += 1 }
    }

    var snapshot: [(status: Int, count: UInt64)] {
        counts.withLock { $0.sorted { $0.key < $1.key }.map { (status: $0.key, count: $0.value) } }
    }
}

/// The outermost responder: counts what every request got, refusals before the body included,
/// and the server's own refusals (400, 413, 421), which it renders with the site's error pages.
struct CountingResponder: HTTPResponder, ErrorPageRendering {
    let next: any HTTPResponder
    let counter: RequestCounter

    func admission(for head: Request) -> Admission {
        let admission = next.admission(for: head)
        if case .refuse(let response) = admission { counter.count(response.status) }
        return admission
    }

    func respond(to request: Request) -> Response {
        let response = next.respond(to: request)
        counter.count(response.status)
        return response
    }

    func errorPage(status: Int, message: String, for request: Request) -> Response {
        counter.count(status)
        return ((next as? any ErrorPageRendering) ?? PlainErrorPages()).errorPage(status: status, message: message, for: request)
    }
}
