import Logging

/// Routes requests by method and path pattern to handlers.
///
/// Patterns are literal segments and `{name}` placeholders (`/networks/{id}/settings`). A path that
/// matches no pattern gets 404; one that matches with another method gets 405 with an `Allow` header.
/// Every GET route also answers HEAD (libmicrohttpd leaves the body out). A handler that throws gets
/// a plain 500 page: the error is logged, never shown.
public struct Router: HTTPResponder {
    public typealias Handler = @Sendable (Request) throws -> Response

    struct Route: Sendable {
        let method: String
        let pattern: String
        let segments: [Segment]
        let handler: Handler
    }

    enum Segment: Sendable, Equatable {
        case literal(String)
        case parameter(String)
    }

    private var routes: [Route] = []
    private var prefixRoutes: [(prefix: String, method: String, handler: Handler)] = []
    private let errorPages: any ErrorPageRendering
    private let logger: Logger

    public init(errorPages: any ErrorPageRendering = PlainErrorPages(), logger: Logger = Logger(label: "vnetd.http")) {
        self.errorPages = errorPages
        self.logger = logger
    }

    public mutating func get(_ pattern: String, _ handler: @escaping Handler) {
        add("GET", pattern, handler)
    }

    public mutating func post(_ pattern: String, _ handler: @escaping Handler) {
        add("POST", pattern, handler)
    }

    public mutating func add(_ method: String, _ pattern: String, _ handler: @escaping Handler) {
        routes.append(Route(method: method, pattern: pattern, segments: Self.parse(pattern), handler: handler))
    }

    /// Routes every path below `prefix` (which ends in `/`) to one handler, e.g. static files.
    public mutating func getPrefix(_ prefix: String, _ handler: @escaping Handler) {
        prefixRoutes.append((prefix, "GET", handler))
    }

    /// Every route, as method and pattern; prefix routes end in `/`.
    public var routeList: [(method: String, pattern: String)] {
        routes.map { ($0.method, $0.pattern) } + prefixRoutes.map { ($0.method, $0.prefix) }
    }

    public func respond(to request: Request) -> Response {
        let method = request.method == "HEAD" ? "GET" : request.method
        var allowed: Set<String> = []
        let pathSegments = Self.split(request.path)

        for route in routes {
            guard let parameters = Self.match(route.segments, pathSegments) else { continue }
            guard route.method == method else {
                allowed.insert(route.method)
                continue
            }
            var routed = request
            routed.pathParameters = parameters
            return run(route.handler, routed)
        }
        for route in prefixRoutes where request.path.hasPrefix(route.prefix) {
            guard route.method == method else {
                allowed.insert(route.method)
                continue
            }
            return run(route.handler, request)
        }
        if !allowed.isEmpty {
            if allowed.contains("GET") { allowed.insert("HEAD") }
            var response = errorPages.errorPage(
                status: 405, message: "This address does not accept \(request.method) requests.", for: request)
            response.setHeader("Allow", allowed.sorted().joined(separator: ", "))
            return response
        }
        return errorPages.errorPage(status: 404, message: "There is no page at this address.", for: request)
    }

    private func run(_ handler: Handler, _ request: Request) -> Response {
        do {
            return try handler(request)
        } catch let error as HTTPError {
            return errorPages.errorPage(status: error.status, message: error.message, for: request)
        } catch {
            logger.error("page failed", metadata: ["path": "\(LogText.escape(request.path))", "error": "\(LogText.escape("\(error)"))"])
            return errorPages.errorPage(
                status: 500, message: "Something went wrong on the server. The error has been logged.", for: request)
        }
    }

    static func parse(_ pattern: String) -> [Segment] {
        split(pattern).map { part in
            if part.hasPrefix("{") && part.hasSuffix("}") && part.count > 2 {
                return .parameter(String(part.dropFirst().dropLast()))
            }
            return .literal(String(part))
        }
    }

    static func split(_ path: String) -> [Substring] {
        path.split(separator: "/", omittingEmptySubsequences: true)
    }

    static func match(_ pattern: [Segment], _ path: [Substring]) -> [String: String]? {
        guard pattern.count == path.count else { return nil }
        var parameters: [String: String] = [:]
        for (segment, part) in zip(pattern, path) {
            switch segment {
            case .literal(let literal):
                guard literal == part else { return nil }
            case .parameter(let name):
                parameters[name] = String(part)
            }
        }
        return parameters
    }
}


/// Thrown by a handler to answer with an error page of a given status, e.g. 404 for an unknown id.
public struct HTTPError: Error, Sendable {
    public let status: Int
    public let message: String

    public init(status: Int, message: String) {
        self.status = status
        self.message = message
    }

    public static func notFound(_ message: String = "There is no page at this address.") -> HTTPError {
        HTTPError(status: 404, message: message)
    }

    public static func badRequest(_ message: String) -> HTTPError {
        HTTPError(status: 400, message: message)
    }
}
