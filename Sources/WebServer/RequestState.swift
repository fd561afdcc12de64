import CMicroHTTPD

/// State of one request between libmicrohttpd's calls. Only the connection's worker thread touches it.
final class RequestState {
    let method: String
    let path: String
    let started = ContinuousClock.now
    var headers: [String: String] = [:]
    var query: [String: String] = [:]
    var cookies: [String: String] = [:]
    var clientAddress: String?
    /// Every `Host` and `Content-Length` field as sent, for the framing checks (`headers` joins repeats).
    var hostFields: [String] = []
    var contentLengthFields: [String] = []
    var postProcessor: OpaquePointer?
    var formParts: [FormPart] = []
    var body: [UInt8] = []
    var receivedSize = 0
    /// Set once the responder admitted the request: the most body bytes read.
    var bodyLimit = 0
    var maximumFieldCount = Int.max
    /// Bytes of field names and values kept so far.
    var decodedSize = 0
    /// Why the form is refused (413) once it broke a bound; nothing more of it is decoded.
    var formRefusal: String?
    var isTooLarge = false
    var isMalformed = false
    var isAnswered = false

    struct FormPart {
        var name: String
        var filename: String?
        var contentType: String?
        var bytes: [UInt8]
    }

    static let tooLargeMessage = "The request body is larger than this server accepts."

    /// The request has a body to read (or to refuse unread).
    var declaresBody: Bool {
        headers["transfer-encoding"] != nil || (headers["content-length"].flatMap(Int.init) ?? 0) > 0
    }

    init(method: String, path: String) {
        self.method = method
        self.path = path
    }

    func makeRequest() -> Request {
        var form = FormData()
        for part in formParts {
            if let filename = part.filename {
                form.attach(UploadedFile(fieldName: part.name, filename: filename, contentType: part.contentType, content: part.bytes))
            } else {
                form.append(String(decoding: part.bytes, as: UTF8.self), for: part.name)
            }
        }
        return Request(
            method: method, path: path, query: query, headers: headers, cookies: cookies,
            form: form, body: body, clientAddress: clientAddress)
    }
}

func gatherHeaders(of connection: OpaquePointer, into state: RequestState) {
    let statePointer = Unmanaged.passUnretained(state).toOpaque()
    MHD_get_connection_values(connection, MHD_ValueKind.HEADER_KIND, { cls, _, key, value in
        guard let cls, let key else { return MHD_Result.YES }
        let state = Unmanaged<RequestState>.fromOpaque(cls).takeUnretainedValue()
        let name = String(cString: key).lowercased()
        let text = value.map { String(cString: $0) } ?? ""
        if name == "host" { state.hostFields.append(text) }
        if name == "content-length" { state.contentLengthFields.append(text) }
        if let earlier = state.headers[name] {
            state.headers[name] = earlier + ", " + text
        } else {
            state.headers[name] = text
        }
        return MHD_Result.YES
    }, statePointer)
    MHD_get_connection_values(connection, MHD_ValueKind.GET_ARGUMENT_KIND, { cls, _, key, value in
        guard let cls, let key else { return MHD_Result.YES }
        let state = Unmanaged<RequestState>.fromOpaque(cls).takeUnretainedValue()
        let name = String(cString: key)
        if state.query[name] == nil { state.query[name] = value.map { String(cString: $0) } ?? "" }
        return MHD_Result.YES
    }, statePointer)
    MHD_get_connection_values(connection, MHD_ValueKind.COOKIE_KIND, { cls, _, key, value in
        guard let cls, let key else { return MHD_Result.YES }
        let state = Unmanaged<RequestState>.fromOpaque(cls).takeUnretainedValue()
        state.cookies[String(cString: key)] = value.map { String(cString: $0) } ?? ""
        return MHD_Result.YES
    }, statePointer)
    if let address = vnetd_mhd_client_address(connection) {
        state.clientAddress = ListeningSocket.describe(address)
    }
}

extension RequestState {
    /// Why the request is answered before its body is read, or nil when it may go on.
    ///
    /// Policy: a body framed two ways (two different lengths, or a length and a transfer
    /// encoding) is 400, because a proxy in front may read it the other way (request smuggling);
    /// HTTP/1.1 without exactly one `Host` is 400; a `Host` this server does not serve is 421.
    func refusal(httpVersion: String, allowedHosts: AllowedHosts) -> (status: Int, message: String)? {
        let lengths = contentLengthFields.flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }.map { String($0).trimmingSpaces }
        if Set(lengths).count > 1 || lengths.contains(where: { $0.isEmpty || !$0.utf8.allSatisfy { $0 >= 48 && $0 <= 57 } }) {
            return (400, "The request gives its length more than once, differently.")
        }
        if !lengths.isEmpty, headers["transfer-encoding"] != nil {
            return (400, "The request gives both a length and a transfer encoding.")
        }
        if hostFields.count > 1 {
            return (400, "The request names more than one host.")
        }
        guard let host = hostFields.first else {
            return httpVersion.uppercased() == "HTTP/1.0" ? nil : (400, "The request names no host.")
        }
        guard allowedHosts.allows(host) else {
            return (421, "This server does not answer for that host name.")
        }
        return nil
    }
}

/// libmicrohttpd's post processor hands over each field in one or more pieces; a piece at offset 0
/// starts a new value, later pieces extend it.
let postIterator: MHD_PostDataIterator = { cls, _, key, filename, contentType, _, data, offset, size in
    guard let cls, let key else { return MHD_Result.YES }
    let state = Unmanaged<RequestState>.fromOpaque(cls).takeUnretainedValue()
    let bytes: [UInt8] = data.map { pointer in
        pointer.withMemoryRebound(to: UInt8.self, capacity: size) { Array(UnsafeBufferPointer(start: $0, count: size)) }
    } ?? []
    let name = String(cString: key)
    let continues = offset > 0 && state.formParts.last?.name == name
    let added = bytes.count + (continues ? 0 : name.utf8.count + (filename.map { strlen($0) } ?? 0))
    if !continues, state.formParts.count >= state.maximumFieldCount {
        state.formRefusal = "The form has more than \(state.maximumFieldCount) fields; this server accepts at most \(state.maximumFieldCount)."
        return MHD_Result.NO
    }
    if state.decodedSize + added > state.bodyLimit {
        state.formRefusal = RequestState.tooLargeMessage
        return MHD_Result.NO
    }
    state.decodedSize += added
    if continues, let last = state.formParts.indices.last {
        state.formParts[last].bytes.append(contentsOf: bytes)
    } else {
        state.formParts.append(RequestState.FormPart(
            name: name,
            filename: filename.map { String(cString: $0) },
            contentType: contentType.map { String(cString: $0) },
            bytes: bytes))
    }
    return MHD_Result.YES
}
