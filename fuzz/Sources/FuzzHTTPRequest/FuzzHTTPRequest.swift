import FuzzDriver
import Foundation
import Logging
import WebServer

#if canImport(Glibc)
import Glibc
#endif

/// Arbitrary bytes sent to the real HTTP layer (libmicrohttpd, the request gathering, the form
/// decoder, cookies, CSRF check, router). Inputs starting below 0x80 are whole requests; the others
/// are form bodies posted with a content type chosen by their first byte. Whatever arrives, the
/// server must answer with HTTP or hang up, and keep serving.
nonisolated(unsafe) let server: HTTPServer = {
    var router = Router()
    router.get("/things/{id}") { request in .text("thing \(request.pathParameters["id"] ?? "") \(request.query.count)") }
    router.post("/form") { request in
        var text = ""
        for (name, values) in request.form.fields { text += "\(name)=\(values.joined(separator: ","));" }
        for (name, file) in request.form.files { text += "\(name):\(file.filename):\(file.content.count);" }
        return .text(text)
    }
    var logger = Logger(label: "fuzz")
    logger.logLevel = .critical
    do {
        return try HTTPServer(
            configuration: HTTPServerConfiguration(listen: ListenAddress(host: "127.0.0.1", port: 0), threads: 2, connectionTimeoutSeconds: 2, maximumBodySize: 64 << 10),
            responder: CSRFProtection(wrapping: router), logger: logger)
    } catch {
        fatalError("cannot start the server: \(error)")
    }
}()
nonisolated(unsafe) var runs = 0
let token = String(repeating: "ab", count: 32)

func exchange(_ request: [UInt8]) -> [UInt8]? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var timeout = timeval(tv_sec: 5, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = server.port.bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { return nil }
    var sent = 0
    while sent < request.count {
        let count = request[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if count <= 0 { break }
        sent += count
    }
    shutdown(fd, Int32(SHUT_WR))
    var reply: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 16384)
    while reply.count < 1 << 20 {
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count <= 0 { break }
        reply += buffer[0..<count]
        if isComplete(reply) { break }  // do not wait for keep-alive to time out
    }
    return reply
}

/// True once `reply` holds a whole response: its head and as many body bytes as it declared.
func isComplete(_ reply: [UInt8]) -> Bool {
    let separator: [UInt8] = [13, 10, 13, 10]
    guard reply.count >= 4, let end = (0...(reply.count - 4)).first(where: { reply[$0..<$0 + 4].elementsEqual(separator) }) else { return false }
    let head = String(decoding: reply[..<end], as: UTF8.self).lowercased()
    guard let line = head.split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") }),
          let length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) else { return false }
    return reply.count >= end + 4 + length
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    guard let first = input.first else { return 0 }
    let request: [UInt8]
    if first < 0x80 {
        // Ended like a request head, so most inputs are answered at once rather than after the
        // server's timeout for a request still arriving.
        request = input + Array("\r\n\r\n".utf8)
    } else {
        let types = ["application/x-www-form-urlencoded", "multipart/form-data; boundary=XyZ", "multipart/form-data", "text/plain"]
        let body = Array(input.dropFirst())
        request = Array("""
            POST /form HTTP/1.1\r
            Host: 127.0.0.1\r
            Cookie: vnetd_csrf=\(token)\r
            X-CSRF-Token: \(token)\r
            Content-Type: \(types[Int(first) % types.count])\r
            Content-Length: \(body.count)\r
            \r\n
            """.utf8) + body
    }
    if let reply = exchange(request), !reply.isEmpty {
        precondition(reply.starts(with: Array("HTTP/1.".utf8)), "the server answers with HTTP or not at all")
    }
    runs += 1
    if runs % 200 == 0 {
        let health = exchange(Array("GET /things/7?a=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8)) ?? []
        precondition(String(decoding: health, as: UTF8.self).contains("thing 7 1"), "the server keeps serving")
    }
    return 0
}

@_cdecl("FuzzHTTPRequest_main")
public func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    vnetd_run_fuzzer(argc, argv) { data, size in
        guard let data else { return 0 }
        return fuzz(data, size)
    }
}
