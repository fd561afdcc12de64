import Packets

/// An upstream resolver vnetd forwards to: an address and a port (53 unless given).
public struct UpstreamServer: Hashable, Sendable, CustomStringConvertible {
    public var address: HostAddress
    public var port: UInt16

    public init(address: HostAddress, port: UInt16 = 53) {
        self.address = address
        self.port = port
    }

    /// `192.0.2.1`, `192.0.2.1:5353`, `fd00::1`, `[fd00::1]:5353` (the `--dns-upstream` option).
    /// A zone index (`fe80::1%eth0`) is refused: the address alone does not say where to send.
    public init?(parsing text: String) {
        var host = Substring(text)
        var port: UInt16 = 53
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return nil }
            let rest = host[host.index(after: close)...]
            host = host[host.index(after: host.startIndex)..<close]
            if !rest.isEmpty {
                guard rest.hasPrefix(":"), let value = UInt16(rest.dropFirst()), value != 0 else { return nil }
                port = value
            }
            guard let v6 = IPv6AddressBytes(parsing: String(host)) else { return nil }
            self.init(address: .ipv6(v6), port: port)
            return
        }
        if host.filter({ $0 == ":" }).count == 1, let colon = host.firstIndex(of: ":") {
            guard let value = UInt16(host[host.index(after: colon)...]), value != 0 else { return nil }
            port = value
            host = host[..<colon]
        }
        if let v4 = IPv4Address(parsing: String(host)) {
            self.init(address: .ipv4(v4), port: port)
        } else if let v6 = IPv6AddressBytes(parsing: String(host)) {
            self.init(address: .ipv6(v6), port: port)
        } else {
            return nil
        }
    }

    public var description: String {
        switch address {
        case .ipv4(let v4): return port == 53 ? "\(v4)" : "\(v4):\(port)"
        case .ipv6(let v6): return port == 53 ? "\(v6)" : "[\(v6)]:\(port)"
        }
    }
}

/// The host's resolvers as `/etc/resolv.conf` names them (resolv.conf(5)).
///
/// Only `nameserver` lines matter; comments start with `#` or `;`, anywhere on a line. Every listed
/// server is kept, in order (glibc uses the first three; vnetd rotates through all on failure). A
/// loopback address such as systemd-resolved's stub `127.0.0.53` is kept too: vnetd runs on the
/// host, where that stub is the host's resolver, and it is the only address that reaches it (when
/// vnetd itself runs inside a network namespace, that namespace's resolv.conf is the one that
/// counts, as for any program there). An address with a zone index (`fe80::1%eth0`) is listed in
/// `skipped`, since the zone names an interface the forwarder does not bind to.
public struct ResolverConfiguration: Equatable, Sendable {
    public var servers: [UpstreamServer] = []
    /// `nameserver` values that were not usable addresses, as written.
    public var skipped: [String] = []

    public init(servers: [UpstreamServer] = [], skipped: [String] = []) {
        self.servers = servers
        self.skipped = skipped
    }

    public init(resolvConf text: String) {
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            let line = rawLine.prefix { $0 != "#" && $0 != ";" }
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard words.count >= 2, words[0] == "nameserver" else { continue }
            let value = String(words[1])
            let address: HostAddress? = IPv4Address(parsing: value).map { .ipv4($0) } ?? IPv6AddressBytes(parsing: value).map { .ipv6($0) }
            guard let address else {
                skipped.append(value)
                continue
            }
            let server = UpstreamServer(address: address)
            if !servers.contains(server) { servers.append(server) }
        }
    }
}
