import CMicroHTTPD

/// A certificate chain and its private key, as PEM text, for serving HTTPS.
public struct TLSIdentity: Sendable {
    public var certificatePEM: String
    public var keyPEM: String

    public init(certificatePEM: String, keyPEM: String) {
        self.certificatePEM = certificatePEM
        self.keyPEM = keyPEM
    }

    /// The DNS names the (first) certificate is for: its subject alternative names, or its common
    /// name when it has none. Empty when the PEM text cannot be read.
    public var certificateNames: [String] {
        final class Names { var list: [String] = [] }
        let names = Names()
        _ = withExtendedLifetime(names) {
            vnetd_tls_certificate_dns_names(certificatePEM, { context, name in
                guard let context, let name else { return }
                Unmanaged<Names>.fromOpaque(context).takeUnretainedValue().list.append(String(cString: name))
            }, Unmanaged.passUnretained(names).toOpaque())
        }
        return names.list
    }

    /// When the (first) certificate stops being valid, in seconds since 1970; nil when it cannot be read.
    public var expirationTime: Int64? {
        let seconds = vnetd_tls_certificate_expiration(certificatePEM)
        return seconds < 0 ? nil : seconds
    }

    /// Whether a browser reaching `host` (a name or an IP address) would find the certificate is for it.
    public func covers(_ host: String) -> Bool {
        vnetd_tls_certificate_covers(certificatePEM, host) == 1
    }

    /// Whether this libmicrohttpd can serve HTTPS at all.
    public static var isSupported: Bool { vnetd_mhd_supports_tls() == 1 }
}

/// A certificate vnetd made for itself: ECDSA P-256, SHA-256, server use only.
public struct SelfSignedCertificate: Sendable {
    public var identity: TLSIdentity
    /// SHA-256 of the certificate, lower-case hex: what a browser shows, to compare on first visit.
    public var fingerprintSHA256: String

    public struct GenerationError: Error, CustomStringConvertible {
        public let description: String
    }

    /// `names`: host names and IP addresses the certificate is for; the first is its common name.
    public static func generate(names: [String], validDays: Int = 397) throws -> SelfSignedCertificate {
        let list = names.filter { !$0.isEmpty && !$0.contains(",") }.joined(separator: ",")
        guard !list.isEmpty, list.utf8.count < 1000 else {
            throw GenerationError(description: "a certificate needs between one and a few dozen names")
        }
        var generated = vnetd_tls_identity()
        defer { vnetd_tls_identity_free(&generated) }
        let status = vnetd_tls_generate_self_signed(list, UInt32(max(1, validDays)), &generated)
        guard status == 0, let certificate = generated.certificate_pem, let key = generated.key_pem else {
            let reason = withUnsafeBytes(of: generated.error) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            throw GenerationError(description: "GnuTLS could not make a certificate (\(reason))")
        }
        let fingerprint = withUnsafeBytes(of: generated.fingerprint_sha256) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return SelfSignedCertificate(
            identity: TLSIdentity(certificatePEM: String(cString: certificate), keyPEM: String(cString: key)),
            fingerprintSHA256: fingerprint)
    }
}
