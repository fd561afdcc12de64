#if canImport(Glibc)
import Glibc
#endif

/// The `Host` header values this server answers: the defence against DNS rebinding, where a
/// page on `evil.example` re-points its name at this server and reads the answers.
///
/// Policy:
/// - the listen address's host, and on a loopback address also `localhost`, `127.0.0.1` and `[::1]`;
///   these match with no port or with the bound port;
/// - on an all-addresses listen (`0.0.0.0`, `::`) any IP address literal (a rebinding page
///   always uses a name), `localhost` and this machine's host name, with no port or the bound port;
/// - every configured server name: `name` with any port, `name:port` with that port only;
/// - over HTTPS, the DNS names of the certificate, with any port (a browser cannot complete the
///   handshake for a name the certificate lacks, so these add nothing a rebinding page can use);
///   a `*.example.org` entry stands for exactly one more label.
/// Names compare without case and without a trailing dot.
public struct AllowedHosts: Sendable, Equatable {
    private var names: Set<String> = []
    private var namesAnyPort: Set<String> = []
    private var namesWithPort: Set<String> = []
    private var wildcardParents: Set<String> = []
    private var acceptsAddressLiterals = false
    private let port: UInt16

    public init(listen: ListenAddress, boundPort: UInt16, serverNames: [String], certificateNames: [String] = []) {
        port = boundPort
        for name in certificateNames {
            let name = Self.normalized(name)
            if name.hasPrefix("*."), name.count > 2 {
                wildcardParents.insert(String(name.dropFirst(2)))
            } else if let (plain, _) = Self.split(name) {
                namesAnyPort.insert(plain)
            }
        }
        let host = Self.normalized(listen.host)
        if ["0.0.0.0", "::", "*", ""].contains(host) {
            acceptsAddressLiterals = true
            names.insert("localhost")
            if let hostName = Self.machineName() { names.insert(hostName) }
        } else {
            names.insert(host)
        }
        if listen.isLoopback {
            names.formUnion(["localhost", "127.0.0.1", "::1"])
        }
        for entry in serverNames {
            guard let (name, entryPort) = Self.split(entry) else { continue }
            if let entryPort {
                namesWithPort.insert("\(name) \(entryPort)")
            } else {
                namesAnyPort.insert(name)
            }
        }
    }

    /// Whether a request whose `Host` header is `value` is for this server.
    public func allows(_ value: String) -> Bool {
        guard let (name, requestPort) = Self.split(value) else { return false }
        if namesAnyPort.contains(name) { return true }
        if let dot = name.firstIndex(of: "."), name.startIndex != dot, wildcardParents.contains(String(name[name.index(after: dot)...])) {
            return true
        }
        if let requestPort, namesWithPort.contains("\(name) \(requestPort)") { return true }
        guard requestPort == nil || requestPort == port else { return false }
        return names.contains(name) || acceptsAddressLiterals && Self.isAddressLiteral(name)
    }

    /// `name[:port]` or `[v6][:port]` into a normalized name and the port; nil when malformed.
    static func split(_ value: String) -> (String, UInt16?)? {
        let text = value.trimmingSpaces
        guard !text.isEmpty, text.utf8.count <= 255 else { return nil }
        var name: Substring
        var portText: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            name = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { return nil }
                portText = rest.dropFirst()
            }
            guard isIPv6(String(name)) else { return nil }
        } else if let colon = text.firstIndex(of: ":") {
            name = text[..<colon]
            portText = text[text.index(after: colon)...]
        } else {
            name = Substring(text)
        }
        var port: UInt16?
        if let portText {
            guard !portText.isEmpty, portText.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let value = UInt16(portText) else { return nil }
            port = value
        }
        let normalized = normalized(String(name))
        guard !normalized.isEmpty, normalized.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 && $0 != "/" && $0 != "\\" && $0 != "@" }) else {
            return nil
        }
        return (normalized, port)
    }

    static func normalized(_ name: String) -> String {
        var name = name.lowercased()
        if name.hasPrefix("[") && name.hasSuffix("]") { name = String(name.dropFirst().dropLast()) }
        if name.hasSuffix(".") { name.removeLast() }
        return name
    }

    static func isAddressLiteral(_ name: String) -> Bool {
        var address = in_addr()
        return inet_pton(AF_INET, name, &address) == 1 || isIPv6(name)
    }

    static func isIPv6(_ name: String) -> Bool {
        var address = in6_addr()
        return inet_pton(AF_INET6, name, &address) == 1
    }

    static func machineName() -> String? {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return nil }
        let name = normalized(String(cString: buffer))
        return name.isEmpty ? nil : name
    }
}

extension String {
    var trimmingSpaces: String {
        var text = Substring(self)
        while text.first == " " || text.first == "\t" { text.removeFirst() }
        while text.last == " " || text.last == "\t" { text.removeLast() }
        return String(text)
    }
}
