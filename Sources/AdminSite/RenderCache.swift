import Foundation
import Synchronization
import WebServer

/// Rendered pages that depend only on stored state (and, for some, on the published runtime
/// status), reused until that state changes.
///
/// Contract: a page may use the cache only if everything it shows comes from the store (read
/// after `generation` was taken), from the key, or, with `publication`, from the runtime status
/// published as that publication (read after it was taken). The same key and versions then
/// always render the same bytes, so a cached copy is exactly what rendering again would produce.
/// What changes with time alone (a lease running out) is handled by `expires`: the copy is not
/// used from that moment on. Pages with forms (per-browser CSRF token) must not use it.
final class RenderCache: Sendable {
    private struct Entry {
        let generation: UInt64
        let publication: UInt64?
        let expires: Date?
        let response: Response
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let capacity: Int

    init(capacity: Int = 256) {
        self.capacity = capacity
    }

    func response(key: String, generation: UInt64, render: () throws -> Response) rethrows -> Response {
        try cached(key: key, generation: generation, publication: nil, now: .distantPast) { (try render(), nil) }
    }

    /// For pages that show runtime status: `publication` is the status's (`RuntimeStatusReading.publication`,
    /// taken before the page reads the status); `render` also says until when its page holds (nil: until
    /// something changes). Nothing is reused when the status cannot say its publication (nil).
    func response(key: String, generation: UInt64, publication: UInt64?, now: Date,
                  render: () throws -> (Response, expires: Date?)) rethrows -> Response {
        guard let publication else { return try render().0 }
        return try cached(key: key, generation: generation, publication: publication, now: now, render: render)
    }

    private func cached(key: String, generation: UInt64, publication: UInt64?, now: Date,
                        render: () throws -> (Response, expires: Date?)) rethrows -> Response {
        if let hit = entries.withLock({ $0[key] }), hit.generation == generation, hit.publication == publication,
           hit.expires.map({ now < $0 }) ?? true {
            return hit.response
        }
        let (response, expires) = try render()
        guard response.status == 200 else { return response }
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = Entry(generation: generation, publication: publication, expires: expires, response: response)
        }
        return response
    }
}
