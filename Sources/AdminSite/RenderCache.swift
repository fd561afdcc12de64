import Synchronization
import WebServer

/// Rendered pages that depend only on stored state, reused until that state changes.
///
/// Contract: a page may use the cache only if everything it shows comes from the store (read
/// after `generation` was taken) or from the key. The same key and generation then always
/// render the same bytes, so a cached copy is exactly what rendering again would produce.
/// Pages with forms (per-browser CSRF token) or runtime counters must not use it.
final class RenderCache: Sendable {
    private struct Entry {
        let generation: UInt64
        let response: Response
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let capacity: Int

    init(capacity: Int = 256) {
        self.capacity = capacity
    }

    func response(key: String, generation: UInt64, render: () throws -> Response) rethrows -> Response {
        if let hit = entries.withLock({ $0[key] }), hit.generation == generation {
            return hit.response
        }
        let response = try render()
        guard response.status == 200 else { return response }
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = Entry(generation: generation, response: response)
        }
        return response
    }
}
