import CMicroHTTPD
import Logging

#if canImport(Glibc)
import Glibc
#endif

public struct HTTPServerConfiguration: Sendable {
    public var listen: ListenAddress
    /// Worker threads in libmicrohttpd's pool; each polls with epoll.
    public var threads: Int
    /// Connections served at once; further clients wait in the kernel's backlog.
    public var connectionLimit: Int
    /// Connections one client address may hold at once (slow clients cannot take every slot);
    /// libmicrohttpd closes further ones as soon as it accepts them. 0: no per-client limit.
    public var connectionsPerClient: Int
    /// Names, besides those derived from `listen`, that clients may put in `Host` (`name` for any
    /// port, `name:port` for one). See `AllowedHosts` for the whole policy.
    public var serverNames: [String]
    /// A connection idle this long is closed (slow or stalled clients).
    public var connectionTimeoutSeconds: Int
    /// Bodies larger than this get 413 and are never buffered whole.
    public var maximumBodySize: Int
    /// Fields (and multipart parts) one form may have; a form with more gets 413. Each field
    /// costs bookkeeping beyond its bytes, so the count is bounded as well as the size.
    public var maximumFieldCount: Int
    /// Per-connection buffer for the request line and headers; larger headers are refused by libmicrohttpd.
    public var connectionMemoryLimit: Int
    /// Headers added to every response unless the responder set the same header.
    public var standardHeaders: [(name: String, value: String)]
    /// When set, the server speaks only HTTPS with this certificate and key.
    public var tls: TLSIdentity?

    public init(
        listen: ListenAddress,
        threads: Int = HTTPServerConfiguration.processorCount,
        connectionLimit: Int = 1024,
        connectionsPerClient: Int? = nil,
        serverNames: [String] = [],
        connectionTimeoutSeconds: Int = 30,
        maximumBodySize: Int = 1 << 20,
        maximumFieldCount: Int = 2000,
        connectionMemoryLimit: Int = 64 << 10,
        standardHeaders: [(name: String, value: String)] = HTTPServerConfiguration.securityHeaders,
        tls: TLSIdentity? = nil
    ) {
        self.tls = tls
        self.listen = listen
        self.threads = max(1, threads)
        self.connectionLimit = connectionLimit
        self.connectionsPerClient = max(0, connectionsPerClient ?? Self.defaultConnectionsPerClient(listen))
        self.serverNames = serverNames
        self.connectionTimeoutSeconds = connectionTimeoutSeconds
        self.maximumBodySize = maximumBodySize
        self.maximumFieldCount = max(1, maximumFieldCount)
        self.connectionMemoryLimit = connectionMemoryLimit
        self.standardHeaders = standardHeaders
    }

    /// The site's policy. `styleNonce` allows, instead of same-origin style sheets, only the
    /// inline `<style>` carrying that nonce (a page that must load nothing else, like sign-in).
    public static func contentSecurityPolicy(styleNonce: String? = nil) -> String {
        let styles = styleNonce.map { "'nonce-\($0)'" } ?? "'self'"
        return "default-src 'self'; script-src 'self'; style-src \(styles); img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    }

    /// 64 per address; none on a loopback address, where every client has the same address
    /// (127.0.0.1) and `connectionLimit` is the only meaningful bound.
    public static func defaultConnectionsPerClient(_ listen: ListenAddress) -> Int {
        listen.isLoopback ? 0 : 64
    }

    public static var processorCount: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    /// Same-origin only, no inline script, no framing, no MIME sniffing, no referrer leaks.
    public static let securityHeaders: [(name: String, value: String)] = [
        ("Content-Security-Policy", contentSecurityPolicy()),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "same-origin"),
        ("X-Frame-Options", "DENY"),
    ]
}

/// The HTTP server: libmicrohttpd underneath, one `HTTPResponder` on top.
///
/// This file is the only place that knows libmicrohttpd's access-handler protocol. libmicrohttpd
/// calls the handler several times per request: first with no per-request state (we allocate it
/// and start a post processor for form bodies), then once per piece of upload data (we feed the
/// post processor or buffer the raw body, and must report every byte consumed), and finally once
/// with no data (we build the whole `Request`, call the responder and queue its response). The
/// request-completed callback releases the per-request state, whatever happened to the connection.
///
/// Memory policy: no body byte is read before the responder admits the request
/// (`HTTPResponder.admission(for:)`, asked on the first call), and an admitted body is bounded
/// by the smaller of the responder's and the server's limit. A form is kept only decoded, at most
/// `maximumFieldCount` fields holding at most the body limit in bytes; so one connection holds
/// its header buffer (`connectionMemoryLimit`), the post processor's 16 KiB and at most one
/// body's worth of fields.
public final class HTTPServer: @unchecked Sendable {
    public let configuration: HTTPServerConfiguration
    /// The port actually bound (useful with port 0).
    public let port: UInt16
    private let context: ServerContext
    private let logTarget: UnsafeMutablePointer<vnetd_mhd_log_target>
    private var daemon: OpaquePointer?

    /// Binds the socket and starts serving. Throws `ListenError` when the address cannot be used.
    /// A responder that is also `ErrorPageRendering` renders the server's own refusals (400, 413,
    /// 421), so they look like the rest of the site.
    public init(configuration: HTTPServerConfiguration, responder: any HTTPResponder, logger: Logger) throws {
        self.configuration = configuration
        // A backlog as deep as the connection limit: libmicrohttpd accepts from its worker
        // threads, so while they render, a burst of new clients (256 browsers at once) waits in
        // the kernel's queue; a shallow queue dropped handshakes and stalled them for seconds.
        let (fd, port) = try ListeningSocket.open(configuration.listen, backlog: Int32(clamping: configuration.connectionLimit))
        self.port = port
        let context = ServerContext(
            responder: responder, logger: logger, configuration: configuration,
            errorPages: (responder as? any ErrorPageRendering) ?? PlainErrorPages(),
            allowedHosts: AllowedHosts(
                listen: configuration.listen, boundPort: port, serverNames: configuration.serverNames,
                certificateNames: configuration.tls?.certificateNames ?? []))
        self.context = context
        let unmanagedContext = Unmanaged.passUnretained(context).toOpaque()
        logTarget = .allocate(capacity: 1)
        logTarget.initialize(to: vnetd_mhd_log_target(sink: { context, line in
            guard let context, let line else { return }
            let server = Unmanaged<ServerContext>.fromOpaque(context).takeUnretainedValue()
            server.logger.warning("libmicrohttpd: \(LogText.escape(String(cString: line).trimmingNewlines))")
        }, context: unmanagedContext))

        if let tls = configuration.tls {
            guard TLSIdentity.isSupported else {
                close(fd)
                logTarget.deallocate()
                throw ListenError(address: configuration.listen, reason: "this libmicrohttpd was built without TLS")
            }
            do {
                try TLSCredentialStore.install(tls, port: port)
            } catch {
                close(fd)
                logTarget.deallocate()
                throw ListenError(address: configuration.listen, reason: "cannot serve HTTPS: \(error)")
            }
        }
        daemon = vnetd_mhd_start(
            fd,
            UInt32(clamping: configuration.threads),
            UInt32(clamping: configuration.connectionLimit),
            UInt32(clamping: configuration.connectionsPerClient),
            UInt32(clamping: configuration.connectionTimeoutSeconds),
            configuration.connectionMemoryLimit,
            nil,
            nil,
            configuration.tls == nil ? nil : { session, _, _, _, _, certificates, count, key in
                vnetd_tls_present(TLSCredentialStore.current(port: vnetd_tls_session_local_port(session)), certificates, count, key)
            },
            accessHandler,
            unmanagedContext,
            requestCompleted,
            unmanagedContext,
            logTarget)
        guard daemon != nil else {
            close(fd)
            logTarget.deallocate()
            TLSCredentialStore.remove(port: port)
            throw ListenError(address: configuration.listen, reason: "libmicrohttpd refused to start")
        }
    }

    /// Presents `identity` from the next TLS handshake on; open connections keep theirs and
    /// nothing stops listening. Throws (and keeps the current pair) when the pair cannot serve:
    /// unreadable, or a key that is not the certificate's.
    public func reloadTLS(_ identity: TLSIdentity) throws {
        guard configuration.tls != nil else {
            throw ListenError(address: configuration.listen, reason: "this server speaks plain HTTP; HTTPS needs a restart")
        }
        try TLSCredentialStore.install(identity, port: port)
    }

    /// Stops accepting, finishes with open connections and joins libmicrohttpd's threads.
    public func stop() {
        guard let daemon else { return }
        MHD_stop_daemon(daemon)
        self.daemon = nil
        logTarget.deinitialize(count: 1)
        logTarget.deallocate()
        if configuration.tls != nil { TLSCredentialStore.remove(port: port) }
    }

    deinit { stop() }
}

/// What the C callbacks reach through their `cls` pointer. Immutable, so shared by all worker threads.
final class ServerContext: Sendable {
    let responder: any HTTPResponder
    let logger: Logger
    let configuration: HTTPServerConfiguration
    let errorPages: any ErrorPageRendering
    let allowedHosts: AllowedHosts

    init(responder: any HTTPResponder, logger: Logger, configuration: HTTPServerConfiguration, errorPages: any ErrorPageRendering, allowedHosts: AllowedHosts) {
        self.allowedHosts = allowedHosts
        self.responder = responder
        self.logger = logger
        self.configuration = configuration
        self.errorPages = errorPages
    }
}

private let accessHandler: MHD_AccessHandlerCallback = { cls, connection, url, method, version, uploadData, uploadDataSize, requestContext in
    guard let cls, let connection, let requestContext, let uploadDataSize else { return MHD_Result.NO }
    let server = Unmanaged<ServerContext>.fromOpaque(cls).takeUnretainedValue()

    guard let existing = requestContext.pointee else {
        let state = RequestState(
            method: method.map { String(cString: $0) } ?? "GET",
            path: url.map { String(cString: $0) } ?? "/")
        requestContext.pointee = Unmanaged.passRetained(state).toOpaque()
        gatherHeaders(of: connection, into: state)
        if let refusal = state.refusal(httpVersion: version.map { String(cString: $0) } ?? "", allowedHosts: server.allowedHosts) {
            var response = server.errorPages.errorPage(status: refusal.status, message: refusal.message, for: state.makeRequest())
            response.setHeader("Connection", "close")
            return answer(connection, state, server, response)
        }
        switch server.responder.admission(for: state.makeRequest()) {
        case .refuse(var response):
            if state.declaresBody { response.setHeader("Connection", "close") }
            return answer(connection, state, server, response)
        case .accept(let limit):
            state.bodyLimit = min(limit ?? Int.max, server.configuration.maximumBodySize)
        }
        state.maximumFieldCount = server.configuration.maximumFieldCount
        if let declared = state.headers["content-length"].flatMap(Int.init), declared > state.bodyLimit {
            state.isTooLarge = true
            return answer(connection, state, server, server.errorPages.errorPage(
                status: 413, message: RequestState.tooLargeMessage, for: state.makeRequest()))
        }
        let contentType = state.headers["content-type"]?.lowercased() ?? ""
        if contentType.hasPrefix("application/x-www-form-urlencoded") || contentType.hasPrefix("multipart/form-data") {
            state.postProcessor = MHD_create_post_processor(connection, 16 << 10, postIterator, Unmanaged.passUnretained(state).toOpaque())
        }
        return MHD_Result.YES
    }
    let state = Unmanaged<RequestState>.fromOpaque(existing).takeUnretainedValue()

    let size = uploadDataSize.pointee
    if size > 0 {
        uploadDataSize.pointee = 0
        if state.isAnswered { return MHD_Result.YES }
        state.receivedSize = state.receivedSize.addingReportingOverflow(size).overflow ? Int.max : state.receivedSize + size
        if state.receivedSize > state.bodyLimit {
            state.isTooLarge = true
            // A body without a declared length that keeps coming far past the limit: hang up.
            guard state.receivedSize / 16 <= state.bodyLimit else {
                server.logger.notice("closing a connection whose body keeps coming far past the limit", metadata: ["path": "\(LogText.escape(state.path))"])
                return MHD_Result.NO
            }
            return MHD_Result.YES
        }
        guard let uploadData else { return MHD_Result.YES }
        if let processor = state.postProcessor {
            if !state.isMalformed, state.formRefusal == nil, MHD_post_process(processor, uploadData, size) != MHD_Result.YES {
                // libmicrohttpd accepts a response only once the upload is complete: remember, answer at the
                // end. The rest of the body is still counted against the limit, but no longer decoded.
                if state.formRefusal == nil { state.isMalformed = true }
            }
        } else {
            uploadData.withMemoryRebound(to: UInt8.self, capacity: size) {
                state.body.append(contentsOf: UnsafeBufferPointer(start: $0, count: size))
            }
        }
        return MHD_Result.YES
    }
    if state.isAnswered { return MHD_Result.YES }

    if state.isTooLarge {
        return answer(connection, state, server, server.errorPages.errorPage(
            status: 413, message: RequestState.tooLargeMessage, for: state.makeRequest()))
    }
    if let refusal = state.formRefusal {
        return answer(connection, state, server, server.errorPages.errorPage(status: 413, message: refusal, for: state.makeRequest()))
    }
    if state.isMalformed {
        return answer(connection, state, server, server.errorPages.errorPage(
            status: 400, message: "The form data could not be read.", for: state.makeRequest()))
    }
    let response = server.responder.respond(to: state.makeRequest())
    return answer(connection, state, server, response)
}

/// Queues `response` with the standard headers added, and writes the access-log line.
private func answer(_ connection: OpaquePointer, _ state: RequestState, _ server: ServerContext, _ response: Response) -> MHD_Result {
    state.isAnswered = true
    let mhdResponse = response.body.withUnsafeBytes { bytes in
        MHD_create_response_from_buffer(bytes.count, UnsafeMutableRawPointer(mutating: bytes.baseAddress), .RESPMEM_MUST_COPY)
    }
    guard let mhdResponse else { return MHD_Result.NO }
    defer { MHD_destroy_response(mhdResponse) }
    for header in response.headers {
        MHD_add_response_header(mhdResponse, header.name, header.value)
    }
    for header in server.configuration.standardHeaders where response.header(header.name) == nil {
        MHD_add_response_header(mhdResponse, header.name, header.value)
    }
    let elapsed = ContinuousClock.now - state.started
    let milliseconds = Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000
    server.logger.info(
        "\(LogText.escape(state.method)) \(LogText.escape(state.path)) \(response.status) \(response.body.count)",
        metadata: [
            "client": "\(state.clientAddress ?? "-")",
            "ms": "\((milliseconds * 100).rounded() / 100)",
        ])
    return MHD_queue_response(connection, UInt32(response.status), mhdResponse)
}

private let requestCompleted: MHD_RequestCompletedCallback = { _, _, requestContext, _ in
    guard let requestContext, let existing = requestContext.pointee else { return }
    let state = Unmanaged<RequestState>.fromOpaque(existing).takeRetainedValue()
    if let processor = state.postProcessor {
        MHD_destroy_post_processor(processor)
        state.postProcessor = nil
    }
    requestContext.pointee = nil
}

extension String {
    var trimmingNewlines: String {
        var text = self
        while text.last == "\n" || text.last == "\r" { text.removeLast() }
        return text
    }
}
