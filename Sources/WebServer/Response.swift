/// An HTTP response. The body is bytes already encoded; headers keep their order.
public struct Response: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int = 200, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first value of a header, compared without regard to case.
    public func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) }?.value
    }

    public mutating func setHeader(_ name: String, _ value: String) {
        headers.removeAll { $0.name.caseInsensitiveCompare(name) }
        headers.append((name, value))
    }

    public var bodyText: String { String(decoding: body, as: UTF8.self) }

    public static func html(_ html: String, status: Int = 200) -> Response {
        Response(
            status: status,
            headers: [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store")],
            body: Array(html.utf8)
        )
    }

    public static func text(_ text: String, status: Int = 200) -> Response {
        Response(status: status, headers: [("Content-Type", "text/plain; charset=utf-8")], body: Array(text.utf8))
    }

    /// 303 See Other: the answer to a successful form post (Post/Redirect/Get).
    public static func seeOther(_ location: String) -> Response {
        Response(status: 303, headers: [("Location", location)])
    }

    /// A downloadable document, e.g. an exported definition.
    public static func attachment(_ bytes: [UInt8], contentType: String, filename: String) -> Response {
        let safeName = String(filename.map { $0.isLetter || $0.isNumber || "-_. ".contains($0) ? $0 : "_" })
        return Response(
            status: 200,
            headers: [
                ("Content-Type", contentType),
                ("Content-Disposition", "attachment; filename=\"\(safeName)\""),
                ("Cache-Control", "no-store"),
            ],
            body: bytes
        )
    }
}

extension String {
    func caseInsensitiveCompare(_ other: String) -> Bool {
        lowercased() == other.lowercased()
    }
}
