import FuzzDriver
import Foundation
import Logging
import WebServer

#if canImport(Glibc)
import Glibc
#endif

import AdminSite
import Domain
import FuzzStorage

/// Arbitrary bytes sent to the real admin site behind libmicrohttpd: the request gathering, the
/// form decoder, cookies, the CSRF check, the session gate, the router and every page's form
/// parsing, over a real SQLite file. Inputs starting below 0x80 are whole requests (sent with a
/// valid session cookie appended as the last header line when they have none); the others are
/// form bodies posted, signed in and with the form token, to a route and with a content type
/// chosen by their first byte. Whatever arrives, the server must answer with HTTP or hang up,
/// and keep serving.
struct NoAdapters: AdapterDiscovering {
    func presentAdapters() -> [DiscoveredAdapter] { [] }
}

struct WallClock: Domain.Clock {
    func now() -> Date { Date() }
}

struct PlainHasher: PasswordHashing {
    func hash(_ password: String) throws -> String { "plain:" + password }
    func verify(_ password: String, against hash: String) -> Bool { hash == "plain:" + password }
}

let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().path

let site: (server: HTTPServer, network: String, vm: String) = {
    var logger = Logger(label: "fuzz")
    logger.logLevel = .critical
    do {
        var template = Array("/tmp/vnetd-fuzz-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { fatalError("mkdtemp failed") }
        let folder = String(cString: made)
        let database = try VnetdDatabase(directory: folder)
        let clock = WallClock()
        let store = SQLiteInventoryStore(database: database)
        let eventLog = SQLiteEventLog(database: database)
        let networks = NetworkService(store: store, clock: clock, dataplane: NoDataplane(), adapters: NoAdapters())
        let vms = VirtualMachineService(store: store, clock: clock, dataplane: NoDataplane())
        let administrators = AdministratorService(store: SQLiteAdministratorStore(database: database), hasher: PlainHasher(), clock: clock)
        _ = try administrators.add(name: "fuzzer", password: "fuzzer's password")
        let access = AccessControl(
            administrators: administrators, sessions: AccessControl.sessions(for: administrators), secureCookies: false)
        let dependencies = SiteDependencies(
            eventLog: eventLog, store: store, networks: networks, vms: vms,
            adapters: AdapterService(store: store, clock: clock, dataplane: NoDataplane(), discovery: NoAdapters()),
            dhcp: DHCPService(store: store, clock: clock, dataplane: NoDataplane(), hostNetworks: NoHostNetworks()),
            status: NotRunningStatus(), changes: database, clock: clock,
            info: ServerInfo(version: "fuzz", hostName: "fuzz", listenAddress: "http://127.0.0.1/", dataDirectory: folder, startedAt: Date()),
            access: access)
        let network = try networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        let vm = try vms.create(name: "web", notes: "", connectingTo: network.id)
        let responder = AdminSite.makeResponder(
            dependencies: dependencies, renderer: try TemplateRenderer(directory: repository + "/Templates"),
            publicDirectory: repository + "/Public", logger: logger)
        let server = try HTTPServer(
            configuration: HTTPServerConfiguration(listen: ListenAddress(host: "127.0.0.1", port: 0), threads: 2, connectionTimeoutSeconds: 2, maximumBodySize: 64 << 10),
            responder: responder, logger: logger)
        return (server, network.id.rawValue, vm.id.rawValue)
    } catch {
        fatalError("cannot start the site: \(error)")
    }
}()
let server = site.server
let token = String(repeating: "ab", count: 32)
/// Signs in through the real form; every input carries the session (renewed now and then, since
/// an input may sign out or change what the session depends on).
func signIn() -> String? {
    let body = "csrf_token=\(token)&name=fuzzer&password=fuzzer%27s+password"
    let reply = exchange(Array("POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: vnetd_csrf=\(token)\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)".utf8)) ?? []
    let text = String(decoding: reply, as: UTF8.self)
    // Inputs posting wrong passwords to /login make the throttle answer 429 for a while, by design.
    guard let range = text.range(of: "vnetd_session=") else { return nil }
    return String(text[range.upperBound...].prefix { $0 != ";" && $0 != "\r" })
}
nonisolated(unsafe) var session: String = {
    guard let first = signIn() else { fatalError("cannot sign in to the fresh site") }
    return first
}()
let routes = ["/login", "/logout", "/account/password", "/networks", "/networks/import", "/networks/\(site.network)/settings",
              "/networks/\(site.network)/dhcp", "/networks/\(site.network)/remove", "/adapters", "/vms", "/vms/\(site.vm)/nics",
              "/vms/\(site.vm)/settings", "/vms/\(site.vm)/remove", "/networks/\(site.network)"]
nonisolated(unsafe) var runs = 0

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
    let cookie = "Cookie: vnetd_csrf=\(token); vnetd_session=\(session)\r\n"
    if first < 0x80 {
        // Ended like a request head, so most inputs are answered at once rather than after the
        // server's timeout for a request still arriving; signed in unless the input sends cookies.
        let hasCookie = String(decoding: input, as: UTF8.self).lowercased().contains("cookie:")
        request = input + Array(((hasCookie ? "" : "\r\n" + cookie.dropLast(2)) + "\r\n\r\n").utf8)
    } else {
        let types = ["application/x-www-form-urlencoded", "multipart/form-data; boundary=XyZ", "multipart/form-data", "text/plain"]
        let body = Array(input.dropFirst())
        let route = routes[Int(first >> 2) % routes.count]
        request = Array("""
            POST \(route) HTTP/1.1\r
            Host: 127.0.0.1\r
            \(cookie)X-CSRF-Token: \(token)\r
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
        let health = exchange(Array("GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)) ?? []
        precondition(String(decoding: health, as: UTF8.self).hasPrefix("HTTP/1.1 200"), "the server keeps serving")
        session = signIn() ?? session
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
