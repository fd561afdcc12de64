import CMicroHTTPD
import Synchronization

/// The certificates HTTPS servers in this process present, by listening port, replaceable while
/// they serve. A handshake asks for them through `present` (GnuTLS's retrieve function, which
/// has no context pointer: the port of the connection's socket names the server); one under way
/// while a new pair is installed keeps the pair it was handed, so replaced credentials are
/// freed only when their server stops (a renewal is a few kilobytes, a few times a year).
enum TLSCredentialStore {
    struct ReloadError: Error, CustomStringConvertible {
        let description: String
    }

    /// Only this table and handshakes (which read them) touch the credentials.
    private struct Credentials: @unchecked Sendable {
        let pointer: UnsafeMutablePointer<vnetd_tls_credentials>
    }

    private struct Entry: Sendable {
        var current: Credentials
        var retired: [Credentials] = []
    }

    private static let table = Mutex<[UInt32: Entry]>([:])

    /// Parses and checks the pair, then makes it the one the server on `port` presents from the
    /// next handshake. On failure the server keeps what it had.
    static func install(_ identity: TLSIdentity, port: UInt16) throws {
        var error = [CChar](repeating: 0, count: 200)
        guard let loaded = vnetd_tls_credentials_load(identity.certificatePEM, identity.keyPEM, &error, error.count) else {
            throw ReloadError(description: String(cString: error))
        }
        let credentials = Credentials(pointer: loaded)
        table.withLock { entries in
            if var entry = entries[UInt32(port)] {
                entry.retired.append(entry.current)
                entry.current = credentials
                entries[UInt32(port)] = entry
            } else {
                entries[UInt32(port)] = Entry(current: credentials)
            }
        }
    }

    /// The credentials of the server whose listening port is `port`, for the handshake under way.
    static func current(port: UInt32) -> UnsafeMutablePointer<vnetd_tls_credentials>? {
        table.withLock { $0[port]?.current.pointer }
    }

    /// Frees the server's credentials; call after its daemon has stopped.
    static func remove(port: UInt16) {
        let entry = table.withLock { $0.removeValue(forKey: UInt32(port)) }
        guard let entry else { return }
        vnetd_tls_credentials_free(entry.current.pointer)
        entry.retired.forEach { vnetd_tls_credentials_free($0.pointer) }
    }
}
