import Domain
import Foundation
import Packets
import WebServer

/// Problems of a failed save, arranged for a form: by field, plus those that belong to no field.
struct FormErrors {
    private(set) var byField: [String: [String]] = [:]
    private(set) var general: [String] = []
    /// Field problems in the order they were found, for the summary that links to each field.
    private(set) var ordered: [(field: String, message: String)] = []

    init() {}

    /// One general message (a form the server refused as a whole).
    init(general message: String) {
        general = [message]
    }

    init(_ failure: ValidationFailure, knownFields: Set<String>) {
        for problem in failure.problems {
            if let field = problem.field, knownFields.contains(field) {
                byField[field, default: []].append(problem.message)
                ordered.append((field, problem.message))
            } else {
                general.append(problem.message)
            }
        }
    }

    var isEmpty: Bool { byField.isEmpty && general.isEmpty }

    /// The field that gets focus: the first one with a problem.
    var firstField: String? { ordered.first?.field }

    /// `errors.<field>` (list of messages), `invalid.<field>` (true) and `generalErrors` for templates.
    func apply(to context: inout [String: Any]) {
        context["errors"] = byField
        context["invalid"] = byField.mapValues { _ in true }
        if !general.isEmpty { context["generalErrors"] = general }
        // The summary links each message to its field (ids equal names on every form); the first
        // bad field gets `autofocus`, so focus lands there without script.
        context["fieldErrors"] = ordered.map { ["field": $0.field, "message": $0.message] }
        context["hasFieldErrors"] = !ordered.isEmpty
        if let first = ordered.first { context["focus"] = [first.field: true] }
        context["hasErrors"] = !isEmpty
    }

    func messages(for field: String) -> [String] { byField[field] ?? [] }
}

/// Ids in URLs are checked before they reach the store: a malformed one is simply "not found".
enum PathID {
    static func network(_ request: Request) throws -> NetworkID {
        NetworkID(rawValue: try valid(request.pathParameters["id"], "virtual network"))
    }

    static func vm(_ request: Request) throws -> VMID {
        VMID(rawValue: try valid(request.pathParameters["id"], "virtual machine"))
    }

    static func isWellFormed(_ text: String) -> Bool {
        (1...64).contains(text.utf8.count) && text.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) || $0 == 45 }
    }

    private static func valid(_ text: String?, _ what: String) throws -> String {
        guard let text, isWellFormed(text) else { throw HTTPError.notFound("There is no such \(what).") }
        return text
    }
}

/// Runs a store read, turning "not found" into a 404 page.
func lookup<T>(_ value: T?, _ message: String) throws -> T {
    guard let value else { throw HTTPError.notFound(message) }
    return value
}

/// Page numbers for long lists: `?page=N`, clamped to what exists.
struct Paging {
    let page: Int
    let pageSize: Int
    let pageCount: Int
    var offset: Int { Self.offset(of: page, pageSize: pageSize) }

    /// No list has this many pages; a larger request is read as this, so arithmetic on it cannot overflow.
    static let maximumPage = 1 << 31

    init(request: Request, total: Int, pageSize: Int) {
        self.pageSize = pageSize
        pageCount = max(1, total / pageSize + (total % pageSize == 0 ? 0 : 1))
        page = min(Self.requestedPage(request), pageCount)
    }

    /// `?page=N` as asked for, in 1...maximumPage (1 when absent or not a number).
    static func requestedPage(_ request: Request) -> Int {
        min(max(1, request.query["page"].flatMap { Int($0) } ?? 1), maximumPage)
    }

    /// The first row of a page, saturating instead of overflowing.
    static func offset(of page: Int, pageSize: Int) -> Int {
        let (offset, overflow) = (max(1, page) - 1).multipliedReportingOverflow(by: pageSize)
        return overflow ? Int.max : offset
    }

    func apply(to context: inout [String: Any], path: String) {
        context["page"] = page
        context["pageCount"] = pageCount
        context["hasPages"] = pageCount > 1
        if page > 1 { context["previousPage"] = "\(path)?page=\(page - 1)" }
        if page < pageCount { context["nextPage"] = "\(path)?page=\(page + 1)" }
    }
}

/// How pages name things, the same everywhere.
enum Labels {
    static let guestOnly = "None (Guest Only)"
    static let notConnected = "Not connected"

    static func kind(_ kind: NetworkKind) -> String {
        switch kind {
        case .guestOnly: guestOnly
        case .external(let adapter): adapter
        case .host: "Host and guests"
        case .nat(let outbound): "NAT (out through \(outbound ?? "the default route's interface"))"
        }
    }

    static func mac(_ mac: MACAddress) -> String {
        mac.formatted(separator: "-", uppercase: true)
    }

    static func assignment(_ assignment: MACAssignment) -> String {
        assignment == .static ? "Static" : "Dynamic"
    }

    static func backend(_ backend: NICBackend) -> String {
        switch backend {
        case .socket: "QEMU stream socket"
        case .datagram: "QEMU datagram socket"
        case .tap: "TAP device"
        case .vhostUser: "QEMU vhost-user (shared memory, fastest)"
        }
    }

    static func adapterState(_ adapter: HostAdapter?) -> String {
        guard let adapter, adapter.isPresent else { return "adapter not found" }
        var parts = [adapter.isUp ? (adapter.hasCarrier ? "up, link detected" : "up, no link") : "down"]
        if let speed = adapter.speedMbps { parts.append(speed >= 1000 && speed % 1000 == 0 ? "\(speed / 1000) Gbit/s" : "\(speed) Mbit/s") }
        if adapter.isWireless { parts.append("wireless") }
        return parts.joined(separator: ", ")
    }
}

extension Request {
    /// A form field as submitted ("" when absent: the post processor omits empty fields).
    func field(_ name: String) -> String {
        form[name] ?? ""
    }

    /// The `version` hidden field of an edit form; -1 when missing or malformed, which no stored version matches.
    var formVersion: Int {
        Int(field("version")) ?? -1
    }
}
