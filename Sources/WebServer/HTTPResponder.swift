/// Anything that turns a complete request into a response: the router, and filters wrapped around it.
///
/// Responders run on libmicrohttpd's worker threads and may block briefly (a database read);
/// they must not wait for other requests.
public protocol HTTPResponder: Sendable {
    func respond(to request: Request) -> Response

    /// Asked once the request line and headers are in, before any byte of the body is read.
    /// `head` carries method, path, query, headers, cookies and client address; its form and
    /// body are empty. The default admits every request within the server's own limit.
    func admission(for head: Request) -> Admission
}

extension HTTPResponder {
    public func admission(for head: Request) -> Admission { .accept() }
}

/// Whether the server reads a request's body.
public enum Admission: Sendable {
    /// Read the body, at most `maximumBodySize` bytes (nil: the server's limit; never more than it).
    case accept(maximumBodySize: Int? = nil)
    /// Answer with this response at once; the body is never read.
    case refuse(Response)
}

/// Builds the pages for error statuses (403, 404, 405, 413, 500). The site supplies styled ones;
/// `PlainErrorPages` is the fallback that needs nothing.
public protocol ErrorPageRendering: Sendable {
    func errorPage(status: Int, message: String, for request: Request) -> Response
}

public struct PlainErrorPages: ErrorPageRendering {
    public init() {}

    public func errorPage(status: Int, message: String, for request: Request) -> Response {
        let title = "\(status) \(HTTPStatus.reason(status))"
        let html = """
            <!doctype html><html lang="en"><head><meta charset="utf-8"><title>\(title)</title></head>
            <body><h1>\(title)</h1><p>\(HTMLEscaping.escape(message))</p></body></html>
            """
        return .html(html, status: status)
    }
}

public enum HTTPStatus {
    public static func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 303: "See Other"
        case 304: "Not Modified"
        case 400: "Bad Request"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 409: "Conflict"
        case 413: "Content Too Large"
        case 421: "Misdirected Request"
        case 422: "Unprocessable Content"
        case 429: "Too Many Requests"
        case 500: "Internal Server Error"
        case 503: "Service Unavailable"
        default: "Status"
        }
    }
}

public enum HTMLEscaping {
    /// Escapes text for use in HTML element content and quoted attribute values.
    ///
    /// Works on UTF-8 bytes, not on `Character`s: a grapheme cluster such as "\u{0600}<" or
    /// "\"\u{0301}" is neither "<" nor "\"" as a Character, yet carries the markup byte to the
    /// browser. Every `&`, `<`, `>`, `"` and `'` byte is replaced, whatever surrounds it.
    public static func escape(_ text: String) -> String {
        var needsEscaping = false
        for byte in text.utf8 where isSpecial(byte) {
            needsEscaping = true
            break
        }
        guard needsEscaping else { return text }
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count + 16)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "&"): out.append(contentsOf: "&amp;".utf8)
            case UInt8(ascii: "<"): out.append(contentsOf: "&lt;".utf8)
            case UInt8(ascii: ">"): out.append(contentsOf: "&gt;".utf8)
            case UInt8(ascii: "\""): out.append(contentsOf: "&quot;".utf8)
            case UInt8(ascii: "'"): out.append(contentsOf: "&#39;".utf8)
            default: out.append(byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func isSpecial(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: "&") || byte == UInt8(ascii: "<") || byte == UInt8(ascii: ">")
            || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'")
    }
}
