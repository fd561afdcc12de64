/// A complete HTTP request, gathered by `HTTPServer` from libmicrohttpd's
/// piecewise callbacks before any page code sees it.
public struct Request: Sendable {
    /// Upper-case method name as sent by the client (`GET`, `POST`, ...).
    public var method: String
    /// The URL path, percent-decoded by libmicrohttpd, without the query string.
    public var path: String
    /// Query-string arguments; a repeated name keeps its first value.
    public var query: [String: String]
    /// Header fields with lower-cased names; a repeated name keeps its values joined by ", ".
    public var headers: [String: String]
    /// Cookies sent by the client.
    public var cookies: [String: String]
    /// Decoded `application/x-www-form-urlencoded` or `multipart/form-data` body.
    public var form: FormData
    /// The raw body, kept only when it is not a form.
    public var body: [UInt8]
    /// The client's address as text, when the connection has one.
    public var clientAddress: String?
    /// Values captured by the route pattern, e.g. `id` for `/networks/{id}`.
    public var pathParameters: [String: String] = [:]
    /// The anti-forgery token for forms rendered in reply to this request (set by `CSRFProtection`).
    public var csrfToken: String = ""
    /// The signed-in administrator, set by the site's session gate; nil on the sign-in page.
    public var administrator: String?

    public init(
        method: String,
        path: String,
        query: [String: String] = [:],
        headers: [String: String] = [:],
        cookies: [String: String] = [:],
        form: FormData = FormData(),
        body: [UInt8] = [],
        clientAddress: String? = nil
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.cookies = cookies
        self.form = form
        self.body = body
        self.clientAddress = clientAddress
    }

    public func header(_ name: String) -> String? {
        headers[name.lowercased()]
    }
}

/// One file part of a `multipart/form-data` body.
public struct UploadedFile: Sendable, Equatable {
    public var fieldName: String
    public var filename: String
    public var contentType: String?
    public var content: [UInt8]

    public init(fieldName: String, filename: String, contentType: String?, content: [UInt8]) {
        self.fieldName = fieldName
        self.filename = filename
        self.contentType = contentType
        self.content = content
    }
}

/// Fields of a submitted form. A field may repeat (check boxes), so each name maps to all its values in order.
/// libmicrohttpd's post processor does not report a field submitted empty, so pages read a missing
/// field as an empty one.
public struct FormData: Sendable, Equatable {
    public private(set) var fields: [String: [String]] = [:]
    public private(set) var files: [String: UploadedFile] = [:]

    public init(fields: [String: [String]] = [:], files: [String: UploadedFile] = [:]) {
        self.fields = fields
        self.files = files
    }

    /// The first value of a field, or nil when the form has no such field.
    public subscript(name: String) -> String? {
        fields[name]?.first
    }

    /// Every value submitted under `name`, in order.
    public func values(_ name: String) -> [String] {
        fields[name] ?? []
    }

    public mutating func append(_ value: String, for name: String) {
        fields[name, default: []].append(value)
    }

    public mutating func attach(_ file: UploadedFile) {
        files[file.fieldName] = file
    }
}
