import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A deliberately small HTTP/1.1 client for tests: it sends exactly the bytes it is given
/// (so tests can send `..` paths and odd headers untouched) and reads the answer until the
/// server closes the connection.
public struct HTTPTestClient: Sendable {
    public let port: UInt16

    public init(port: UInt16) {
        self.port = port
    }

    public struct Reply: Sendable {
        public var status: Int
        public var headers: [(name: String, value: String)]
        public var body: [UInt8]
        public var text: String { String(decoding: body, as: UTF8.self) }

        public func header(_ name: String) -> String? {
            headers.first { $0.name.lowercased() == name.lowercased() }?.value
        }

        public func headers(_ name: String) -> [String] {
            headers.filter { $0.name.lowercased() == name.lowercased() }.map(\.value)
        }

        /// The value of a cookie set by this reply.
        public func cookie(_ name: String) -> String? {
            for header in headers("Set-Cookie") {
                let pair = header.split(separator: ";").first ?? ""
                let parts = pair.split(separator: "=", maxSplits: 1)
                if parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == name { return String(parts[1]) }
            }
            return nil
        }
    }

    public struct ClientError: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    public func get(_ path: String, headers: [String: String] = [:]) throws -> Reply {
        try send(method: "GET", path: path, headers: headers)
    }

    /// Posts a URL-encoded form; values are percent-encoded here.
    public func postForm(_ path: String, _ fields: [(String, String)], headers: [String: String] = [:]) throws -> Reply {
        let body = fields.map { "\(Self.formEncode($0.0))=\(Self.formEncode($0.1))" }.joined(separator: "&")
        var all = headers
        all["Content-Type"] = "application/x-www-form-urlencoded"
        return try send(method: "POST", path: path, headers: all, body: Array(body.utf8))
    }

    public func send(method: String, path: String, headers: [String: String] = [:], body: [UInt8]? = nil) throws -> Reply {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if let body, headers["Transfer-Encoding"] == nil { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        return try exchange(Array(head.utf8) + (body ?? []))
    }

    /// Sends raw bytes and parses the reply.
    public func exchange(_ request: [UInt8]) throws -> Reply {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ClientError(description: "socket failed") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw ClientError(description: "connect failed: \(errno)") }
        var sent = 0
        while sent < request.count {
            let count = request[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if count <= 0 { break }  // the server may answer and close before reading everything (413)
            sent += count
        }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            response.append(contentsOf: buffer[0..<count])
        }
        return try Self.parse(response)
    }

    public static func parse(_ bytes: [UInt8]) throws -> Reply {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let end = (0..<max(0, bytes.count - 3)).first(where: { Array(bytes[$0..<$0 + 4]) == separator }) else {
            throw ClientError(description: "no complete response (\(bytes.count) bytes)")
        }
        let lines = String(decoding: bytes[0..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else {
            throw ClientError(description: "bad status line \(lines[0])")
        }
        var headers: [(String, String)] = []
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        var body = Array(bytes[(end + 4)...])
        if headers.contains(where: { $0.0.lowercased() == "transfer-encoding" && $0.1.lowercased().contains("chunked") }) {
            body = dechunk(body)
        }
        return Reply(status: status, headers: headers, body: body)
    }

    static func dechunk(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var index = 0
        while index < bytes.count {
            guard let lineEnd = (index..<bytes.count - 1).first(where: { bytes[$0] == 13 && bytes[$0 + 1] == 10 }) else { break }
            let sizeText = String(decoding: bytes[index..<lineEnd], as: UTF8.self).split(separator: ";").first ?? ""
            guard let size = Int(sizeText, radix: 16), size > 0 else { break }
            let start = lineEnd + 2
            out.append(contentsOf: bytes[start..<min(bytes.count, start + size)])
            index = start + size + 2
        }
        return out
    }

    public static func formEncode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    /// The value of a hidden `csrf_token` field in an HTML page.
    public static func csrfField(in html: String) -> String? {
        guard let range = html.range(of: "name=\"csrf_token\" value=\"") else { return nil }
        return String(html[range.upperBound...].prefix { $0 != "\"" })
    }
}

/// A fresh folder under /tmp, removed by `remove()`.
public struct TemporaryDirectory: Sendable {
    public let path: String

    public init() throws {
        var template = Array("/tmp/vnetd-test-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw HTTPTestClient.ClientError(description: "mkdtemp failed") }
        path = String(cString: made)
    }

    public func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// The repository's top folder, found from this file's location.
public let repositoryRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

/// A signed-in browser for live-server tests: its session and CSRF cookies go with every request.
public struct SignedInClient: Sendable {
    public let client: HTTPTestClient
    public let csrfToken: String
    public let cookieHeader: String

    public struct SignInError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Signs in through `/login` as a browser would: fetch the form, post it, keep the cookies.
    public init(port: UInt16, name: String, password: String) throws {
        client = HTTPTestClient(port: port)
        let form = try client.get("/login")
        guard let token = form.cookie("vnetd_csrf") else { throw SignInError(description: "no CSRF cookie (status \(form.status))") }
        let reply = try client.postForm(
            "/login", [("csrf_token", token), ("name", name), ("password", password)],
            headers: ["Cookie": "vnetd_csrf=\(token)"])
        guard reply.status == 303, let session = reply.cookie("vnetd_session") else {
            throw SignInError(description: "sign-in answered \(reply.status)")
        }
        csrfToken = token
        cookieHeader = "vnetd_csrf=\(token); vnetd_session=\(session)"
    }

    /// Signs in as the `admin` a first start created, with the password from its file.
    public init(port: UInt16, initialPasswordFile: String) throws {
        let password = try String(contentsOfFile: initialPasswordFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        try self.init(port: port, name: "admin", password: password)
    }

    public func get(_ path: String) throws -> HTTPTestClient.Reply {
        try client.get(path, headers: ["Cookie": cookieHeader])
    }

    /// Posts a form with the CSRF token added.
    public func post(_ path: String, _ fields: [(String, String)]) throws -> HTTPTestClient.Reply {
        try client.postForm(path, [("csrf_token", csrfToken)] + fields, headers: ["Cookie": cookieHeader])
    }
}

/// The inputs a fuzz target once crashed on (fuzz/regressions/<target>/), sorted, as paths; empty
/// when the folder cannot be read, so each replay also checks how many files it expects.
public func fuzzRegressionInputs(_ target: String) -> [String] {
    let folder = repositoryRoot + "/fuzz/regressions/" + target
    return ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted().map { folder + "/" + $0 }
}
