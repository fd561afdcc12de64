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
/// used from that moment on. A page with a form uses `form(...)`: it is rendered with a stand-in
/// for the CSRF token, and each response gets its browser's own token in the stand-in's place.
final class RenderCache: Sendable {
    private struct Entry {
        let generation: UInt64
        let publication: UInt64?
        let expires: Date?
        let response: Response
        /// Where the token stand-in is in the body (forms only).
        var tokenOffsets: [Int] = []
        /// What else the page was made from, when it says (see `response(...condition:...)`).
        var condition: String?
    }

    /// Random for each vnetd, never sent to a browser, so no stored text can contain it on purpose.
    let tokenStandIn = RandomToken.hex(bytes: 32)

    private let entries = Mutex<(pages: [String: Entry], bytes: Int)>(([:], 0))
    private let capacity: Int
    private let byteLimit: Int

    /// At most `capacity` pages and `byteLimit` bytes of them (a VM's adapters page is 300 kB with
    /// a thousand networks); when either is reached, everything is dropped and built again as asked.
    init(capacity: Int = 256, byteLimit: Int = 16 << 20) {
        self.capacity = capacity
        self.byteLimit = byteLimit
    }

    private func store(_ entry: Entry, for key: String) {
        entries.withLock { cache in
            if cache.pages.count >= capacity || cache.bytes + entry.response.body.count > byteLimit {
                cache.pages.removeAll(keepingCapacity: true)
                cache.bytes = 0
            }
            cache.bytes += entry.response.body.count - (cache.pages[key]?.response.body.count ?? 0)
            cache.pages[key] = entry
        }
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

    /// As above, for a page that depends on something outside the store and the status only
    /// sometimes (the host adapters, for a list that shows an external network): `render` returns it
    /// as `condition` when it does, and a reused page must have been made under `current()`, which
    /// is asked only then.
    func response(key: String, generation: UInt64, publication: UInt64?, now: Date, current: () -> String,
                  render: () throws -> (Response, expires: Date?, condition: String?)) rethrows -> Response {
        guard let publication else { return try render().0 }
        if let hit = entries.withLock({ $0.pages[key] }), hit.generation == generation, hit.publication == publication,
           hit.expires.map({ now < $0 }) ?? true, hit.condition.map({ $0 == current() }) ?? true {
            return hit.response
        }
        let (response, expires, condition) = try render()
        guard response.status == 200 else { return response }
        store(Entry(generation: generation, publication: publication, expires: expires, response: response, condition: condition), for: key)
        return response
    }

    /// For a page with a form that shows only stored state: `render` gets the request with the
    /// stand-in as its CSRF token; a reused page gets this request's token spliced in.
    func form(key: String, generation: UInt64, request: Request, render: (Request) throws -> Response) rethrows -> Response {
        let token = Array(request.csrfToken.utf8)
        if let hit = entries.withLock({ $0.pages[key] }), hit.generation == generation, hit.publication == nil {
            return Self.splice(hit, token, replacing: tokenStandIn.utf8.count)
        }
        var shown = request
        shown.csrfToken = tokenStandIn
        let response = try render(shown)
        guard response.status == 200 else { return try render(request) }
        let entry = Entry(generation: generation, publication: nil, expires: nil, response: response,
                          tokenOffsets: Self.offsets(of: Array(tokenStandIn.utf8), in: response.body))
        store(entry, for: key)
        return Self.splice(entry, token, replacing: tokenStandIn.utf8.count)
    }

    private static func offsets(of needle: [UInt8], in body: [UInt8]) -> [Int] {
        guard let first = needle.first, body.count >= needle.count else { return [] }
        var found: [Int] = []
        var index = 0
        while index <= body.count - needle.count {
            if body[index] == first && body[index..<(index + needle.count)].elementsEqual(needle) {
                found.append(index)
                index += needle.count
            } else {
                index += 1
            }
        }
        return found
    }

    private static func splice(_ entry: Entry, _ token: [UInt8], replacing standIn: Int) -> Response {
        var response = entry.response
        var body: [UInt8] = []
        body.reserveCapacity(response.body.count + entry.tokenOffsets.count * max(0, token.count - standIn))
        var start = 0
        for offset in entry.tokenOffsets {
            body.append(contentsOf: response.body[start..<offset])
            body.append(contentsOf: token)
            start = offset + standIn
        }
        body.append(contentsOf: response.body[start...])
        response.body = body
        return response
    }

    private func cached(key: String, generation: UInt64, publication: UInt64?, now: Date,
                        render: () throws -> (Response, expires: Date?)) rethrows -> Response {
        if let hit = entries.withLock({ $0.pages[key] }), hit.generation == generation, hit.publication == publication,
           hit.expires.map({ now < $0 }) ?? true {
            return hit.response
        }
        let (response, expires) = try render()
        guard response.status == 200 else { return response }
        store(Entry(generation: generation, publication: publication, expires: expires, response: response), for: key)
        return response
    }
}
