import Application
import Foundation
import Logging
import Testing
import TestSupport
import WebServer

#if canImport(Glibc)
import Glibc
#endif

/// Sign-in, the account commands and HTTPS, against a real vnetd and real clients (curl, openssl).
@Suite("Accounts and HTTPS with real clients", .serialized)
struct SiteAccessTests {
    var quiet: Logger {
        var logger = Logger(label: "it")
        logger.logLevel = .critical
        return logger
    }

    func configuration(_ folder: TemporaryDirectory, tls: Configuration.TLSSetting = .none) -> Configuration {
        var configuration = Configuration(
            listen: ListenAddress(host: "127.0.0.1", port: 0),
            dataDirectory: folder.path + "/data",
            templatesDirectory: repositoryRoot + "/Templates",
            publicDirectory: repositoryRoot + "/Public",
            threads: 2)
        configuration.tls = tls
        return configuration
    }

    func mode(_ path: String) -> mode_t {
        var status = stat()
        return stat(path, &status) == 0 ? status.st_mode & 0o777 : 0
    }

    @Test func firstStartMakesAnAdminWhosePasswordOnlyTheOwnerCanReadAndTheCommandsManageAccounts() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let configuration = configuration(folder)
        let app = try buildApplication(configuration, logger: quiet)
        defer { app.shutdown() }
        let file = try #require(app.initialPasswordFile)
        #expect(mode(file) == 0o600)
        #expect(mode(configuration.dataDirectory) == 0o700)
        let password = try String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .newlines)
        #expect(password.count == 20)
        _ = try SignedInClient(port: app.port, name: "admin", password: password)

        let vnetd = try #require(vnetdExecutable, "the vnetd executable is built by `swift build`")
        let data = configuration.dataDirectory
        try run(["sh", "-c", "printf '%s\\n' 'alice password 1' | '\(vnetd)' user add alice --data-dir '\(data)'"])
        let alice = try SignedInClient(port: app.port, name: "alice", password: "alice password 1")
        let short = try run(["sh", "-c", "printf 'short\\n' | '\(vnetd)' user add bob --data-dir '\(data)'"], check: false)
        #expect(short.status != 0)
        #expect(short.output.contains("at least 8 characters"))

        try run(["sh", "-c", "printf '%s\\n' 'admin password 2' | '\(vnetd)' user passwd admin --data-dir '\(data)'"])
        #expect(!FileManager.default.fileExists(atPath: file), "the first password's file goes once it is no longer the password")
        #expect(throws: SignedInClient.SignInError.self) { try SignedInClient(port: app.port, name: "admin", password: password) }
        let admin = try SignedInClient(port: app.port, name: "admin", password: "admin password 2")
        #expect(try admin.get("/events").text.contains("(command line)"), "changes from the command line say so")

        try run(["sh", "-c", "'\(vnetd)' user remove alice --data-dir '\(data)'"])
        // A running vnetd re-reads accounts every few seconds: alice's session ends.
        #expect(eventually(10) { (try? alice.get("/").status) == 303 })
        let listing = try run([vnetd, "user", "list", "--data-dir", data]).output
        #expect(listing.hasPrefix("admin\t"))
        #expect(!listing.contains("alice"))
    }

    /// The Event Viewer caches its page until the store changes; a change made by another
    /// process (the command line) is a change too. Nothing in this process writes between the
    /// two views, so only the command line's write can make the second one differ.
    @Test func aCommandLineChangeShowsInTheEventViewerWithoutAnyWriteOnTheSite() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let configuration = configuration(folder)
        let app = try buildApplication(configuration, logger: quiet)
        defer { app.shutdown() }
        let admin = try SignedInClient(port: app.port, initialPasswordFile: try #require(app.initialPasswordFile))
        let before = try admin.get("/events")
        #expect(before.status == 200 && !before.text.contains("carol"), "the first view knows no carol")
        #expect(try admin.get("/events").text == before.text, "the page is served from its cache")
        let vnetd = try #require(vnetdExecutable, "the vnetd executable is built by `swift build`")
        try run(["sh", "-c", "printf '%s\\n' 'carol password 1' | '\(vnetd)' user add carol --data-dir '\(configuration.dataDirectory)'"])
        let after = try admin.get("/events").text
        #expect(after.contains("carol") && after.contains("(command line)"), "the command line's change is shown")
    }

    @Test func changingTheFirstPasswordOnTheSiteRemovesItsFile() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let app = try buildApplication(configuration(folder), logger: quiet)
        defer { app.shutdown() }
        let file = try #require(app.initialPasswordFile)
        let first = try String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .newlines)
        let browser = try SignedInClient(port: app.port, name: "admin", password: first)
        let changed = try browser.post("/account/password", [("current", first), ("password", "chosen by me"), ("repeat", "chosen by me")])
        #expect(changed.status == 303)
        #expect(!FileManager.default.fileExists(atPath: file))
        _ = try SignedInClient(port: app.port, name: "admin", password: "chosen by me")
    }

    @Test func plainHTTPOnAReachableAddressIsRefusedUnlessAllowed() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        var open = configuration(folder)
        open.listen = ListenAddress(host: "0.0.0.0", port: 0)
        #expect {
            try buildApplication(open, logger: quiet)
        } throws: { error in
            "\(error)".hasPrefix("refusing plain HTTP on 0.0.0.0:0")
        }
        open.insecureHTTP = true
        let app = try buildApplication(open, logger: quiet)
        defer { app.shutdown() }
        #expect(try HTTPTestClient(port: app.port).get("/login").status == 200, "and then it serves")
    }

    @Test func selfSignedCertificateIsMadeOnceKeptPrivateAndVerifies() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let configuration = configuration(folder, tls: .selfSigned)
        let app = try buildApplication(configuration, logger: quiet)
        let certificate = configuration.selfSignedCertificateFile
        #expect(mode(configuration.selfSignedKeyFile) == 0o600)
        let url = "https://127.0.0.1:\(app.port)/login"
        let verified = try run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", certificate, url])
        #expect(verified.output == "200")
        let byName = try run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", certificate,
                              "--resolve", "localhost:\(app.port):127.0.0.1", "https://localhost:\(app.port)/login"])
        #expect(byName.output == "200")
        let untrusted = try run(["curl", "-sS", "-o", "/dev/null", url], check: false)
        #expect(untrusted.status == 60, "without the certificate curl refuses the connection")
        let cookies = try run(["curl", "-sS", "-D", "-", "-o", "/dev/null", "--cacert", certificate, url]).output
        #expect(cookies.contains("vnetd_csrf=") && cookies.contains("; Secure"))
        #expect((try? HTTPTestClient(port: app.port).get("/login").status) != 200, "plain HTTP is not answered on the HTTPS port")
        // TLS 1.1 is refused by the server, not just by a modern client's defaults.
        func handshake(_ version: String) throws -> String {
            try run(["sh", "-c", "echo | timeout 10 openssl s_client -msg -connect 127.0.0.1:\(app.port) -\(version) -cipher 'DEFAULT@SECLEVEL=0' 2>&1"], check: false).output
        }
        // The client really sent a TLS 1.1 ClientHello (version 0x0302), and the server ended the
        // connection without a single byte back: refused by the server, not by the client's
        // defaults (a client that refuses never writes a hello). GnuTLS sends no alert here.
        let old = try handshake("tls1_1")
        #expect(old.contains("ClientHello") && old.contains("03 02"), "a TLS 1.1 ClientHello went out: \(old.prefix(600))")
        #expect(old.contains("has read 0 bytes and written") && !old.contains("written 0 bytes"), "the server answered nothing: \(old.prefix(1500))")
        #expect(!old.contains("ServerHello"))
        #expect(try handshake("tls1_2").contains("Protocol  : TLSv1.2"))
        let text = try run(["openssl", "x509", "-in", certificate, "-noout", "-text"]).output
        #expect(text.contains("IP Address:127.0.0.1") && text.contains("DNS:localhost") && text.contains("CA:FALSE"))
        let first = try String(contentsOfFile: certificate, encoding: .utf8)
        app.shutdown()

        let again = try buildApplication(configuration, logger: quiet)
        defer { again.shutdown() }
        #expect(try String(contentsOfFile: certificate, encoding: .utf8) == first, "a restart keeps the certificate browsers have accepted")
    }

    @Test func aCertificateFromARealAuthorityServesTheWholeSignIn() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let pki = folder.path
        // A private certificate authority and a server certificate it signs, as an organisation's PKI would issue.
        try run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Test Root CA",
                 "-keyout", pki + "/ca-key.pem", "-out", pki + "/ca.pem"])
        try run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=vnetd.test",
                 "-keyout", pki + "/server-key.pem", "-out", pki + "/server.csr"])
        try "subjectAltName=DNS:vnetd.test,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n".write(toFile: pki + "/ext.cnf", atomically: true, encoding: .utf8)
        try run(["openssl", "x509", "-req", "-in", pki + "/server.csr", "-CA", pki + "/ca.pem", "-CAkey", pki + "/ca-key.pem",
                 "-CAcreateserial", "-days", "2", "-extfile", pki + "/ext.cnf", "-out", pki + "/server.pem"])

        let configuration = configuration(folder, tls: .files(certificate: pki + "/server.pem", key: pki + "/server-key.pem"))
        let app = try buildApplication(configuration, logger: quiet)
        defer { app.shutdown() }
        let password = try String(contentsOfFile: try #require(app.initialPasswordFile), encoding: .utf8).trimmingCharacters(in: .newlines)
        let base = "https://vnetd.test:\(app.port)"
        let curl = ["curl", "-sS", "--cacert", pki + "/ca.pem", "--resolve", "vnetd.test:\(app.port):127.0.0.1",
                    "-c", pki + "/jar", "-b", pki + "/jar"]
        let form = try run(curl + [base + "/login"]).output
        let token = try #require(HTTPTestClient.csrfField(in: form))
        let signIn = try run(curl + ["-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
                                     "--data-urlencode", "csrf_token=\(token)", "--data-urlencode", "name=admin",
                                     "--data-urlencode", "password=\(password)", base + "/login"]).output
        #expect(signIn == "303 \(base)/")
        let status = try run(curl + [base + "/"]).output
        #expect(status.contains("Signed in as <strong>admin</strong>"))
        #expect(status.contains("https://127.0.0.1:"), "the status page shows the HTTPS address")
    }

    /// A key only root may read, and vnetd running as another user (as a service account
    /// does): one line naming the file, exit 1. The same files made readable start the site.
    @Test(.enabled(if: rootTestsRun, Comment(rawValue: needsRoot)))
    func aTLSKeyThisUserCannotReadIsOneLineAndExitOne() throws {
        let vnetd = try #require(vnetdExecutable, "the vnetd executable is built by `swift build`")
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        chmod(folder.path, 0o755)
        let key = folder.path + "/key.pem", cert = folder.path + "/cert.pem"
        try run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                 "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        chown(key, 0, 0)
        chmod(key, 0o600)
        chmod(cert, 0o644)
        let owned = folder.path + "/owned"
        try FileManager.default.createDirectory(atPath: owned, withIntermediateDirectories: true)
        chown(owned, 65534, 65534)
        let asService = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        let port = unusedLoopbackPort()
        let serve = asService + [vnetd, "serve", "--listen", "127.0.0.1:\(port)", "--data-dir", owned + "/data", "--log-level", "error",
                                 "--tls-cert", cert, "--tls-key", key,
                                 "--templates", repositoryRoot + "/Templates", "--public", repositoryRoot + "/Public"]
        #expect(try run(asService + ["cat", key], check: false).status != 0, "the key really is unreadable for uid 65534")
        let (status, output) = try run(["timeout", "30"] + serve, check: false)  // bounded: a vnetd that starts would serve on
        let lines = output.split(separator: "\n").filter { !$0.isEmpty }
        #expect(status == 1, "exit status \(status): \(output)")
        #expect(lines.count == 1 && lines.first?.contains("cannot read the TLS key file \(key)") == true, "one line naming the key: \(lines)")

        chown(key, 65534, 65534)
        let server = try spawn(serve, logFile: folder.path + "/vnetd.log")
        defer { kill(server, SIGTERM); waitpid(server, nil, 0) }
        #expect(eventually(15) {
            (try? run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", cert, "https://127.0.0.1:\(port)/login"], check: false).output) == "200"
        }, "readable, the same files serve HTTPS")
    }

    @Test func unreadableOrMismatchedTLSFilesAreClearErrors() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        #expect {
            try buildApplication(configuration(folder, tls: .files(certificate: folder.path + "/none.pem", key: folder.path + "/none-key.pem")), logger: quiet)
        } throws: { error in
            "\(error)" == "cannot read the TLS certificate file \(folder.path)/none.pem"
        }
        let one = try SelfSignedCertificate.generate(names: ["localhost"])
        let other = try SelfSignedCertificate.generate(names: ["localhost"])
        try one.identity.certificatePEM.write(toFile: folder.path + "/cert.pem", atomically: true, encoding: .utf8)
        try other.identity.keyPEM.write(toFile: folder.path + "/key.pem", atomically: true, encoding: .utf8)
        #expect {
            try buildApplication(configuration(folder, tls: .files(certificate: folder.path + "/cert.pem", key: folder.path + "/key.pem")), logger: quiet)
        } throws: { error in
            "\(error)".contains("the key is not the certificate's")
        }
    }
}
