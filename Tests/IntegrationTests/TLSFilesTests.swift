import Foundation
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The certificate files over time, on the real binary: replaced while it runs, expired while it
/// was stopped, and a `--listen` address the stored certificate is not for.
///
/// What a user can expect: vnetd reads the TLS files when it starts and on SIGHUP, never by
/// itself while it runs (the running site keeps its pair until a reload or restart; the reload
/// is ServiceReloadTests). The self-signed certificate is vnetd's own, so
/// vnetd keeps it fit: expired (or due within 30 days) or not for the new `--listen` address, it
/// is made again at the start and the log gives the new fingerprint; a browser then asks once,
/// as on the first visit, instead of refusing the site outright. A certificate the administrator
/// gave is theirs to renew: vnetd serves it and logs one warning line.
@Suite("TLS files over time, on the real binary", .serialized)
struct TLSFilesTests {
    final class Site {
        let pid: pid_t
        let port: UInt16
        let host: String
        let logFile: String

        init(data: String, host: String = "127.0.0.1", tls: [String], logFile: String) throws {
            let vnetd = try #require(vnetdExecutable, "the vnetd executable is built by `swift build`")
            self.host = host
            self.logFile = logFile
            port = unusedLoopbackPort()
            pid = try spawn([vnetd, "serve", "--listen", "\(host):\(port)", "--data-dir", data, "--log-level", "info",
                             "--templates", repositoryRoot + "/Templates", "--public", repositoryRoot + "/Public"] + tls, logFile: logFile)
            let (host, port) = (host, port)
            guard eventually(15, { (try? run(["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", "https://\(host):\(port)/login"], check: false).output) == "200" }) else {
                kill(pid, SIGKILL)
                waitpid(pid, nil, 0)
                throw CommandFailure(description: "vnetd did not serve HTTPS: \(log.suffix(1500))")
            }
        }

        var log: String { (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "" }

        /// SHA-256 fingerprint of the certificate a client is shown.
        func servedFingerprint() throws -> String {
            try run(["sh", "-c", "echo | openssl s_client -connect \(host):\(port) 2>/dev/null | openssl x509 -noout -fingerprint -sha256"]).output
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }

        /// The HTTP status curl gets when it trusts only `certificate` and checks the name.
        func statusTrusting(_ certificate: String) throws -> String {
            try run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", certificate, "https://\(host):\(port)/login"], check: false).output
        }

        func stop() -> String {
            kill(pid, SIGTERM)
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            return VnetdProcess.describe(status)
        }
    }

    static func fingerprint(_ certificate: String) throws -> String {
        try run(["openssl", "x509", "-in", certificate, "-noout", "-fingerprint", "-sha256"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// An EC P-256 certificate for localhost and 127.0.0.1, valid from `fromDays` to `toDays` days
    /// from now (negative: in the past), made by Python's `cryptography` (openssl cannot date one in the past).
    static func certificate(_ certificate: String, key: String, fromDays: Int, toDays: Int) throws {
        let script = """
        import datetime, ipaddress, sys
        from cryptography import x509
        from cryptography.x509.oid import NameOID
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now + datetime.timedelta(days=\(fromDays))).not_valid_after(now + datetime.timedelta(days=\(toDays)))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
        open(sys.argv[1], "wb").write(cert.public_bytes(serialization.Encoding.PEM))
        open(sys.argv[2], "wb").write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        """
        try run(["python3", "-c", script, certificate, key])
    }

    @Test func replacedFilesAreServedFromTheNextStartAndNotBefore() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let cert = folder.path + "/cert.pem", key = folder.path + "/key.pem"
        try Self.certificate(cert, key: key, fromDays: -1, toDays: 30)
        let first = try Self.fingerprint(cert)
        try run(["cp", cert, folder.path + "/first.pem"])
        let tls = ["--tls-cert", cert, "--tls-key", key]
        let site = try Site(data: folder.path + "/data", tls: tls, logFile: folder.path + "/vnetd.log")
        #expect(try site.servedFingerprint() == first)

        // Renewed in place, as a certificate tool does: new files renamed over the old ones.
        try Self.certificate(folder.path + "/new-cert.pem", key: folder.path + "/new-key.pem", fromDays: -1, toDays: 60)
        let renewed = try Self.fingerprint(folder.path + "/new-cert.pem")
        #expect(renewed != first)
        try #require(rename(folder.path + "/new-key.pem", key) == 0 && rename(folder.path + "/new-cert.pem", cert) == 0)
        #expect(try site.servedFingerprint() == first, "the running site keeps the pair it started with")
        #expect(try site.statusTrusting(folder.path + "/first.pem") == "200")
        #expect(site.stop() == "exit 0")

        let again = try Site(data: folder.path + "/data", tls: tls, logFile: folder.path + "/vnetd.log")
        #expect(try again.servedFingerprint() == renewed, "the next start serves the new pair")
        #expect(try again.statusTrusting(cert) == "200")
        #expect(try again.statusTrusting(folder.path + "/first.pem") != "200", "and no longer the old one")
        #expect(again.stop() == "exit 0")
    }

    @Test func anExpiredSelfSignedCertificateIsMadeAgainAndAValidOneIsKept() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let data = folder.path + "/data"
        try FileManager.default.createDirectory(atPath: data + "/tls", withIntermediateDirectories: true)
        let cert = data + "/tls/vnetd-cert.pem", key = data + "/tls/vnetd-key.pem"
        try Self.certificate(cert, key: key, fromDays: -400, toDays: -3)
        let expired = try Self.fingerprint(cert)
        let site = try Site(data: data, tls: ["--tls-self-signed"], logFile: folder.path + "/vnetd.log")
        #expect(site.log.contains("the self-signed certificate \(cert) expired on") && site.log.contains("making a new one"), "the log says why: \(site.log.suffix(800))")
        let made = try Self.fingerprint(cert)
        #expect(made != expired)
        #expect(try site.servedFingerprint() == made)
        #expect(try run(["openssl", "x509", "-in", cert, "-noout", "-checkend", "\(300 * 86_400)"], check: false).status == 0, "valid for most of a year")
        #expect(try site.statusTrusting(cert) == "200", "a client that trusts the new certificate gets the site")
        #expect(site.stop() == "exit 0")

        // Control: one that is valid (ours or one put there) stays, byte for byte.
        try Self.certificate(cert, key: key, fromDays: -1, toDays: 90)
        let valid = try String(contentsOfFile: cert, encoding: .utf8)
        let kept = try Site(data: data, tls: ["--tls-self-signed"], logFile: folder.path + "/kept.log")
        #expect(try String(contentsOfFile: cert, encoding: .utf8) == valid)
        #expect(try kept.servedFingerprint() == Self.fingerprint(cert))
        #expect(!kept.log.contains("making a new one"))
        #expect(kept.stop() == "exit 0")
    }

    @Test func anExpiredCertificateTheAdministratorGaveIsServedWithOneWarning() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let cert = folder.path + "/cert.pem", key = folder.path + "/key.pem"
        try Self.certificate(cert, key: key, fromDays: -400, toDays: -3)
        let site = try Site(data: folder.path + "/data", tls: ["--tls-cert", cert, "--tls-key", key], logFile: folder.path + "/vnetd.log")
        let warnings = site.log.split(separator: "\n").filter { $0.contains(" warning ") && $0.contains(cert) }
        #expect(warnings.count == 1 && warnings.first?.contains("expired on") == true, "\(site.log.suffix(800))")
        #expect(try site.servedFingerprint() == Self.fingerprint(cert), "its own file, not a replacement")
        #expect(try site.statusTrusting(cert) != "200", "curl refuses it, as browsers will")
        #expect(site.stop() == "exit 0")

        // Control: a valid one gives no warning.
        try Self.certificate(cert, key: key, fromDays: -1, toDays: 30)
        let fine = try Site(data: folder.path + "/data", tls: ["--tls-cert", cert, "--tls-key", key], logFile: folder.path + "/fine.log")
        #expect(!fine.log.contains(" warning "), "\(fine.log.suffix(800))")
        #expect(try fine.statusTrusting(cert) == "200")
        #expect(fine.stop() == "exit 0")
    }

    @Test func aSelfSignedCertificateFollowsTheListenAddress() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let data = folder.path + "/data"
        let cert = data + "/tls/vnetd-cert.pem"
        let first = try Site(data: data, tls: ["--tls-self-signed"], logFile: folder.path + "/first.log")
        #expect(try first.statusTrusting(cert) == "200")
        #expect(first.stop() == "exit 0")
        let made = try String(contentsOfFile: cert, encoding: .utf8)
        #expect(!(try run(["openssl", "x509", "-in", cert, "-noout", "-text"]).output.contains("IP Address:127.0.0.2")))

        // Moved to another address (127.0.0.2 is loopback too, so the test stays on this host).
        let moved = try Site(data: data, host: "127.0.0.2", tls: ["--tls-self-signed"], logFile: folder.path + "/moved.log")
        #expect(moved.log.contains("is not for 127.0.0.2, the --listen address"), "\(moved.log.suffix(800))")
        let text = try run(["openssl", "x509", "-in", cert, "-noout", "-text"]).output
        #expect(text.contains("IP Address:127.0.0.2") && text.contains("IP Address:127.0.0.1"), "the new one is for both")
        #expect(try moved.statusTrusting(cert) == "200", "curl checks the name and accepts it")
        #expect(moved.stop() == "exit 0")
        let remade = try String(contentsOfFile: cert, encoding: .utf8)
        #expect(remade != made)

        // Control: the same address again keeps it.
        let same = try Site(data: data, host: "127.0.0.2", tls: ["--tls-self-signed"], logFile: folder.path + "/same.log")
        #expect(try String(contentsOfFile: cert, encoding: .utf8) == remade)
        #expect(!same.log.contains("making a new one"))
        #expect(same.stop() == "exit 0")
    }
}
