import Domain
import Foundation
import Logging
import WebServer

/// Start-up steps that keep strangers out: the first administrator, the TLS identity, and the
/// rule that plain HTTP stays on loopback.
enum SiteSecurity {
    /// Refuses plain HTTP on an address other hosts can reach, unless explicitly allowed.
    static func checkTransport(_ configuration: Configuration) throws {
        guard !configuration.usesTLS, !configuration.listen.isLoopback, !configuration.insecureHTTP else { return }
        throw StartupError(description: """
            refusing plain HTTP on \(configuration.listen): passwords would cross the network unencrypted. \
            Use --tls-self-signed, or --tls-cert and --tls-key, or listen on 127.0.0.1; --insecure-http overrides this check
            """)
    }

    /// The certificate and key to serve, read from the given files or made on first use.
    ///
    /// The files are read once, here: replacing them on a running vnetd changes nothing until
    /// the next start. A self-signed certificate is vnetd's own, so vnetd keeps it valid: one
    /// that has expired (or will within `renewalMargin`) or is not for a `--listen` address it
    /// was moved to is made again, and the log gives the new fingerprint. A certificate the
    /// administrator gave is theirs to renew: vnetd serves it anyway and says what is wrong.
    static func identity(for configuration: Configuration, now: Date, logger: Logger) throws -> TLSIdentity? {
        switch configuration.tls {
        case .none:
            return nil
        case .files(let certificate, let key):
            let identity = TLSIdentity(certificatePEM: try readPEM(certificate, what: "certificate"), keyPEM: try readPEM(key, what: "key"))
            if let expiration = identity.expirationTime, Double(expiration) <= now.timeIntervalSince1970 {
                logger.warning("the TLS certificate \(certificate) expired on \(utc(expiration)); browsers will refuse it until it is renewed")
            }
            let names = [configuration.listen.host].filter { !isWildcard($0) } + configuration.serverNames.map(hostPart)
            if !names.isEmpty, !names.contains(where: identity.covers) {
                logger.warning("the TLS certificate \(certificate) is for none of \(names.joined(separator: ", ")); browsers will warn")
            }
            return identity
        case .selfSigned:
            let certificateFile = configuration.selfSignedCertificateFile
            let keyFile = configuration.selfSignedKeyFile
            if FileManager.default.fileExists(atPath: certificateFile), FileManager.default.fileExists(atPath: keyFile) {
                let kept = TLSIdentity(certificatePEM: try readPEM(certificateFile, what: "certificate"), keyPEM: try readPEM(keyFile, what: "key"))
                guard let reason = reissueReason(kept, listen: configuration.listen, now: now) else { return kept }
                logger.notice("the self-signed certificate \(certificateFile) \(reason): making a new one")
            }
            let generated: SelfSignedCertificate
            do {
                generated = try SelfSignedCertificate.generate(names: certificateNames(for: configuration.listen))
            } catch {
                throw StartupError(description: "cannot make a self-signed certificate: \(error)")
            }
            do {
                try FileManager.default.createDirectory(
                    atPath: (certificateFile as NSString).deletingLastPathComponent, withIntermediateDirectories: true,
                    attributes: [.posixPermissions: 0o700])
                try writePrivate(generated.identity.keyPEM, to: keyFile)
                try Data(generated.identity.certificatePEM.utf8).write(to: URL(fileURLWithPath: certificateFile))
            } catch {
                throw StartupError(description: "cannot store the self-signed certificate in \(certificateFile): \(error.localizedDescription)")
            }
            logger.notice("made a self-signed certificate \(certificateFile); SHA-256 fingerprint \(generated.fingerprintSHA256)")
            return generated.identity
        }
    }

    /// A self-signed certificate is made again this long before it expires, at a start.
    static let renewalMargin: TimeInterval = 30 * 86_400

    /// Why vnetd's own certificate must be made again, or nil to keep it.
    static func reissueReason(_ identity: TLSIdentity, listen: ListenAddress, now: Date) -> String? {
        guard let expiration = identity.expirationTime else { return "cannot be read" }
        if Double(expiration) <= now.timeIntervalSince1970 { return "expired on \(utc(expiration))" }
        if Double(expiration) <= now.timeIntervalSince1970 + renewalMargin { return "expires on \(utc(expiration))" }
        if !isWildcard(listen.host), !identity.covers(listen.host) { return "is not for \(listen.host), the --listen address" }
        return nil
    }

    private static func isWildcard(_ host: String) -> Bool { ["0.0.0.0", "::", "*"].contains(host) }

    /// `name` of a `--server-name` given as `name:port`.
    private static func hostPart(_ serverName: String) -> String {
        guard let colon = serverName.lastIndex(of: ":"), !serverName.hasPrefix("[") else { return serverName }
        return String(serverName[..<colon])
    }

    private static func utc(_ seconds: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate]
        return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
    }

    /// Host name, localhost and the loopback addresses, plus the listen address when it is a specific one.
    static func certificateNames(for listen: ListenAddress) -> [String] {
        var names = [ProcessInfo.processInfo.hostName, "localhost", "127.0.0.1", "::1"]
        if !isWildcard(listen.host), !names.contains(listen.host) { names.append(listen.host) }
        return names
    }

    /// Creates `admin` on the first start, writes its password to a file only the owner can
    /// read, and logs where it is. Returns the file, or nil when accounts already existed.
    static func ensureFirstAdministrator(_ administrators: AdministratorService, configuration: Configuration, logger: Logger) throws -> String? {
        guard try administrators.list().isEmpty else { return nil }
        let password = randomPassword()
        guard try administrators.createFirstAdministrator(password: password) else { return nil }
        let file = configuration.initialPasswordFile
        do {
            try writePrivate(password + "\n", to: file)
        } catch {
            throw StartupError(description: "cannot write the first administrator's password to \(file): \(error.localizedDescription)")
        }
        // The password goes to the 0600 file only: a log is read by more people and kept longer.
        logger.notice("""
            created the administrator “admin”; its password is in \(file), readable only by this user. \
            Sign in with it and change it, or run: vnetd user passwd admin
            """)
        return file
    }

    /// The first password's file is stale once `admin` has chosen another password: remove it.
    static func forgetFirstPassword(afterChanging name: String, in configuration: Configuration) {
        guard AdministratorRules.key(name) == "admin" else { return }
        unlink(configuration.initialPasswordFile)
    }

    /// 20 characters from an alphabet without look-alikes: about 115 bits.
    static func randomPassword() -> String {
        let alphabet = Array("abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<20).map { _ in alphabet[Int(generator.next(upperBound: UInt(alphabet.count)))] })
    }

    /// Writes a secret so that only the owner can ever read it: created 0600, replaced atomically.
    static func writePrivate(_ text: String, to path: String) throws {
        let temporary = path + ".tmp-\(getpid())"
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path]) }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd)
        close(fd)
        guard written == bytes.count, synced == 0, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
    }

    private static func readPEM(_ path: String, what: String) throws -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw StartupError(description: "cannot read the TLS \(what) file \(path)")
        }
        guard text.contains("-----BEGIN ") else {
            throw StartupError(description: "the TLS \(what) file \(path) is not in PEM form")
        }
        return text
    }
}
