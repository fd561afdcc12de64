import Foundation
import Packets
import WebServer

/// Finds a metrics bearer token by its hash (implemented over the store by Application).
public protocol MetricsTokenVerifying: Sendable {
    /// The token's name when `hash` (`sha256:` and 64 hex digits) is one of the stored ones.
    func tokenName(forHash hash: String) -> String?
}

/// Who may read `/metrics`: a client presenting a stored bearer token, or one whose address is
/// in the allowlist. Nobody else (401), and nobody at all while there is neither.
public struct MetricsAccess: Sendable {
    public var tokens: any MetricsTokenVerifying
    public var allowedClients: [ClientRange]

    public init(tokens: any MetricsTokenVerifying, allowedClients: [ClientRange] = []) {
        self.tokens = tokens
        self.allowedClients = allowedClients
    }

    /// An IPv4 network (`10.0.0.0/8`, or one address) or one IPv6 address (as the server writes it, `::1`).
    public enum ClientRange: Sendable, Equatable, CustomStringConvertible {
        case ipv4(network: IPv4Address, prefixLength: Int)
        case ipv6(String)

        public init?(parsing text: String) {
            let parts = text.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count <= 2, let first = parts.first, !first.isEmpty else { return nil }
            if let address = IPv4Address(parsing: String(first)) {
                let length = parts.count == 2 ? Int(parts[1]) : 32
                guard let length, (0...32).contains(length) else { return nil }
                self = .ipv4(network: IPv4Address(value: address.value & Self.mask(length)), prefixLength: length)
            } else if parts.count == 1, first.contains(":"), first.utf8.count <= 45,
                first.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) {
                self = .ipv6(first.lowercased())
            } else {
                return nil
            }
        }

        func contains(_ client: String) -> Bool {
            switch self {
            case .ipv4(let network, let length):
                let text = client.hasPrefix("::ffff:") ? String(client.dropFirst(7)) : client
                guard let address = IPv4Address(parsing: text) else { return false }
                return address.value & Self.mask(length) == network.value
            case .ipv6(let address):
                return client.lowercased() == address
            }
        }

        private static func mask(_ length: Int) -> UInt32 { length == 0 ? 0 : UInt32.max << UInt32(32 - length) }

        public var description: String {
            switch self {
            case .ipv4(let network, let length): "\(network)/\(length)"
            case .ipv6(let address): address
            }
        }
    }

    /// Why a request may read the metrics ("token NAME", "address A"), or nil.
    func admit(_ request: Request) -> String? {
        if let header = request.header("Authorization"), header.utf8.count <= 256 {
            let parts = header.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" {
                let token = parts[1].trimmingCharacters(in: .whitespaces)
                if !token.isEmpty, let name = tokens.tokenName(forHash: "sha256:" + SHA256.hex(Array(token.utf8))) {
                    return "token \(name)"
                }
            }
        }
        if let client = request.clientAddress, allowedClients.contains(where: { $0.contains(client) }) {
            return "address \(client)"
        }
        return nil
    }
}
