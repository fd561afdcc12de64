import Foundation
import Packets
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// SIGHUP on the real binary, as `systemctl reload vnetd` sends it after a certificate renewal:
/// the same process goes on, a new TLS handshake gets the new certificate, a connection opened
/// before keeps working, and frames between two VMs keep flowing, none lost.
@Suite("Reload on SIGHUP, on the real binary", .serialized)
struct ServiceReloadTests {
    /// Sends one request on a TLS connection, waits for `gate` to exist, sends a second on the
    /// same connection; prints both statuses and the certificate's SHA-256 fingerprint.
    static let keepAliveClient = """
        import hashlib, os, socket, ssl, sys, time
        host, port, gate = sys.argv[1], int(sys.argv[2]), sys.argv[3]
        context = ssl.create_default_context(); context.check_hostname = False; context.verify_mode = ssl.CERT_NONE
        connection = context.wrap_socket(socket.create_connection((host, port), timeout=20))
        def get():
            connection.sendall(f"GET /login HTTP/1.1\\r\\nHost: {host}:{port}\\r\\n\\r\\n".encode())
            data = b""
            while b"\\r\\n\\r\\n" not in data: data += connection.recv(65536)
            head, _, body = data.partition(b"\\r\\n\\r\\n")
            length = int([l.split(b":")[1] for l in head.split(b"\\r\\n") if l.lower().startswith(b"content-length:")][0])
            while len(body) < length: body += connection.recv(65536)
            return head.split(b" ")[1].decode()
        first = get()
        print("first", first, hashlib.sha256(connection.getpeercert(binary_form=True)).hexdigest(), flush=True)
        deadline = time.time() + 30
        while not os.path.exists(gate) and time.time() < deadline: time.sleep(0.05)
        print("second", get(), hashlib.sha256(connection.getpeercert(binary_form=True)).hexdigest(), flush=True)
        """

    static func fingerprintHex(_ certificate: String) throws -> String {
        try TLSFilesTests.fingerprint(certificate).split(separator: "=").last.map { $0.replacingOccurrences(of: ":", with: "").lowercased() } ?? ""
    }

    @Test func sighupServesTheRenewedCertificateWithoutDroppingAConnectionOrAFrame() throws {
        let binary = try #require(vnetdExecutable, "the vnetd executable is built by `swift build`")
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let data = folder.path + "/data"
        try run([binary, "populate", "--data-dir", data, "--networks", "1", "--vms", "2", "--allow-mac-spoofing"])
        let cert = folder.path + "/cert.pem", key = folder.path + "/key.pem"
        try TLSFilesTests.certificate(cert, key: key, fromDays: -1, toDays: 30)
        let first = try Self.fingerprintHex(cert)
        let vnetd = try VnetdProcess(data: data, logFile: folder.path + "/vnetd.log", arguments: ["--tls-cert", cert, "--tls-key", key],
                                     waitUntilServing: false)
        let base = "https://127.0.0.1:\(vnetd.port)"
        try #require(eventually(15) { (try? run(["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", base + "/login"], check: false).output) == "200" },
                     "vnetd serves HTTPS: \(vnetd.log.suffix(1500))")
        func served() throws -> String {
            try run(["sh", "-c", "echo | openssl s_client -connect 127.0.0.1:\(vnetd.port) 2>/dev/null | openssl x509 -outform der | sha256sum"]).output
                .split(separator: " ").first.map(String.init) ?? ""
        }
        #expect(try served() == first)

        // Traffic between the two VMs all through the reload: numbered broadcasts from one to the other.
        let sockets = try FileManager.default.contentsOfDirectory(atPath: data + "/run").filter { $0.hasSuffix(".sock") }.sorted()
        try #require(sockets.count == 2)
        let sender = try StreamPeer(path: data + "/run/" + sockets[0])
        let receiver = try StreamPeer(path: data + "/run/" + sockets[1])
        @Sendable func frame(_ number: Int) -> [UInt8] {
            EthernetBuilder.header(destination: .broadcast, source: MACAddress(value: 0x0200_0000_5150), type: EtherType(rawValue: 0x88B5))
                + withUnsafeBytes(of: UInt32(number).bigEndian, Array.init) + [UInt8](repeating: 0x5A, count: 42)
        }
        // The switch must have learned nothing in the way: one frame first, seen on the other side.
        #expect(try sender.send(frame(0), reaching: receiver))
        let total = 3_000
        let received = Counter()
        let reader = Thread {
            _ = try? receiver.receive(until: { bytes in
                if bytes.count >= 18, bytes[12] == 0x88, bytes[13] == 0xB5 {
                    let number = Int(bytes[14]) << 24 | Int(bytes[15]) << 16 | Int(bytes[16]) << 8 | Int(bytes[17])
                    if number > 0 { received.insert(number) }
                }
                return received.count == total
            }, seconds: 20)
            received.finish()
        }
        reader.start()

        // A browser's connection, opened before the reload and used again after it.
        let gate = folder.path + "/gate"
        let clientOutput = folder.path + "/client.out"
        let client = try spawn(["timeout", "40", "python3", "-c", Self.keepAliveClient, "127.0.0.1", "\(vnetd.port)", gate], logFile: clientOutput)
        defer { kill(client, SIGKILL); waitpid(client, nil, 0) }
        #expect(eventually(10) { ((try? String(contentsOfFile: clientOutput, encoding: .utf8)) ?? "").contains("first 200") })

        let writer = Thread {
            for number in 1...total {
                try? sender.send(frame(number))
                if number % 100 == 0 { usleep(50_000) }
            }
        }
        writer.start()

        // Renewed in place, as a certificate tool does, then `systemctl reload`.
        usleep(300_000)
        try TLSFilesTests.certificate(folder.path + "/new-cert.pem", key: folder.path + "/new-key.pem", fromDays: -1, toDays: 60)
        let renewed = try Self.fingerprintHex(folder.path + "/new-cert.pem")
        try #require(renewed != first)
        try #require(rename(folder.path + "/new-key.pem", key) == 0 && rename(folder.path + "/new-cert.pem", cert) == 0)
        #expect(try served() == first, "nothing changes before the signal")
        try #require(kill(vnetd.pid, SIGHUP) == 0)
        #expect(eventually(10) { vnetd.log.contains("reloaded the TLS certificate") }, "\(vnetd.log.suffix(1500))")
        #expect(try served() == renewed, "a new handshake gets the renewed certificate")
        #expect(vnetd.isRunning, "the same process, still running: \(vnetd.exitDescription ?? "")")
        #expect(try run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", cert, base + "/login"], check: false).output == "200",
                "curl trusting only the new certificate gets the site")

        FileManager.default.createFile(atPath: gate, contents: Data())
        #expect(eventually(10) { ((try? String(contentsOfFile: clientOutput, encoding: .utf8)) ?? "").contains("second 200 \(first)") },
                "the connection opened before the reload answers on it, with its certificate: \((try? String(contentsOfFile: clientOutput, encoding: .utf8)) ?? "")")

        #expect(received.wait(seconds: 25) == total, "every frame sent across the reload arrived: \(received.count) of \(total)")

        // A pair that cannot serve (the old key with the new certificate): refused, the current one kept.
        try TLSFilesTests.certificate(folder.path + "/other-cert.pem", key: folder.path + "/other-key.pem", fromDays: -1, toDays: 60)
        try #require(rename(folder.path + "/other-key.pem", key) == 0)
        try #require(kill(vnetd.pid, SIGHUP) == 0)
        #expect(eventually(10) { vnetd.log.contains("reload refused") }, "\(vnetd.log.suffix(1500))")
        #expect(vnetd.log.contains("the key is not the certificate's"))
        #expect(try served() == renewed, "the site keeps the pair that works")
        #expect(vnetd.isRunning)
        #expect(vnetd.log.components(separatedBy: " serving https://").count == 2, "one start only")
        #expect(vnetd.stop() == "exit 0")
    }

    /// The numbers a reader saw, shared with the test's thread.
    final class Counter: @unchecked Sendable {
        private let condition = NSCondition()
        private var seen = Set<Int>()
        private var done = false

        func insert(_ number: Int) { condition.withLock { seen.insert(number) } }
        var count: Int { condition.withLock { seen.count } }

        func finish() {
            condition.withLock {
                done = true
                condition.broadcast()
            }
        }

        func wait(seconds: Double) -> Int {
            let deadline = Date().addingTimeInterval(seconds)
            return condition.withLock {
                while !done && condition.wait(until: deadline) {}
                return seen.count
            }
        }
    }
}
