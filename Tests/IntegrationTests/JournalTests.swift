@testable import Application
import Foundation
import Logging
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Logs under systemd: the real binary, its standard error the stream `JOURNAL_STREAM` names, and
/// a journal socket at the real path (`/run/systemd/journal/socket`, in a mount namespace of the
/// test's own, so the host's /run is not touched). What reaches the journal is each record as
/// fields: its priority, the message without a timestamp of vnetd's, metadata as fields.
@Suite("Logs to the journal, on the real binary", .serialized, .enabled(if: rootTestsRun, Comment(rawValue: needsRoot)))
struct JournalTests {
    /// Receives datagrams on the journal's socket path for `seconds`, each written as its length
    /// (4 bytes, big-endian) and bytes.
    static let journal = """
        import socket, sys, time
        out, seconds = sys.argv[1], float(sys.argv[2])
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind("/run/systemd/journal/socket")
        open(out + ".ready", "w").close()
        deadline = time.time() + seconds
        with open(out, "ab") as f:
            while time.time() < deadline:
                s.settimeout(max(0.1, deadline - time.time()))
                try: d = s.recv(1 << 20)
                except socket.timeout: continue
                f.write(len(d).to_bytes(4, "big") + d); f.flush()
        """

    /// The native protocol's fields of one datagram (`NAME=value` lines, or `NAME`, a 64-bit
    /// little-endian length and the bytes).
    static func fields(_ datagram: [UInt8]) -> [String: String]? {
        var fields: [String: String] = [:]
        var index = 0
        while index < datagram.count {
            guard let end = datagram[index...].firstIndex(of: UInt8(ascii: "\n")) else { return nil }
            let line = datagram[index..<end]
            if let equals = line.firstIndex(of: UInt8(ascii: "=")) {
                fields[String(decoding: line[..<equals], as: UTF8.self)] = String(decoding: line[(equals + 1)...], as: UTF8.self)
                index = end + 1
            } else {
                let start = end + 1 + 8
                guard start <= datagram.count else { return nil }
                let length = datagram[(end + 1)..<start].reversed().reduce(0) { $0 << 8 | Int($1) }
                guard start + length < datagram.count, datagram[start + length] == UInt8(ascii: "\n") else { return nil }
                fields[String(decoding: line, as: UTF8.self)] = String(decoding: datagram[start..<(start + length)], as: UTF8.self)
                index = start + length + 1
            }
        }
        return fields
    }

    static func records(in file: String) -> [[String: String]]? {
        guard let data = FileManager.default.contents(atPath: file) else { return [] }
        let bytes = [UInt8](data)
        var records: [[String: String]] = []
        var index = 0
        while index + 4 <= bytes.count {
            let length = bytes[index..<(index + 4)].reduce(0) { $0 << 8 | Int($1) }
            guard index + 4 + length <= bytes.count, let fields = fields(Array(bytes[(index + 4)..<(index + 4 + length)])) else { return nil }
            records.append(fields)
            index += 4 + length
        }
        return records
    }

    @Test func underSystemdRecordsGoToTheJournalWithPrioritiesAndFields() throws {
        let binary = try #require(vnetdExecutable, "the vnetd executable is built by `swift build`")
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let received = folder.path + "/journal.bin"
        let stderrFile = folder.path + "/stderr.log"
        FileManager.default.createFile(atPath: stderrFile, contents: nil)
        let port = unusedLoopbackPort()
        let script = """
            set -e
            mount -t tmpfs tmpfs /run/systemd
            mkdir /run/systemd/journal
            /usr/bin/python3 -c "$1" "\(received)" 25 &
            for i in $(seq 50); do [ -e "\(received).ready" ] && break; sleep 0.1; done
            export JOURNAL_STREAM=$(stat -c %d:%i "\(stderrFile)")
            exec timeout 20 "\(binary)" serve --listen 127.0.0.1:\(port) --data-dir "\(folder.path)/data" --log-level info \
                --templates "\(repositoryRoot)/Templates" --public "\(repositoryRoot)/Public"
            """
        let pid = try spawn(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "vnetd-journal", Self.journal], logFile: stderrFile)
        defer { kill(pid, SIGKILL); waitpid(pid, nil, 0) }
        #expect(eventually(15) { (try? HTTPTestClient(port: port).get("/login").status) == 200 }, "\((try? String(contentsOfFile: stderrFile, encoding: .utf8)) ?? "")")
        #expect(eventually(5) { (Self.records(in: received) ?? []).contains { $0["MESSAGE"]?.hasPrefix("GET /login 200") == true } })
        let records = try #require(Self.records(in: received), "every datagram is in the native protocol")

        let start = try #require(records.first { $0["MESSAGE"]?.hasPrefix("vnetd \(vnetdVersion) serving http://127.0.0.1:\(port)/") == true }, "\(records)")
        #expect(start["PRIORITY"] == "5", "notice")
        #expect(start["SYSLOG_IDENTIFIER"] == "vnetd")
        #expect(start["CODE_FILE"]?.hasSuffix("main.swift") == true && Int(start["CODE_LINE"] ?? "") != nil)
        let access = try #require(records.first { $0["MESSAGE"]?.hasPrefix("GET /login 200") == true })
        #expect(access["PRIORITY"] == "6", "info")
        #expect(access["CLIENT"] == "127.0.0.1", "metadata as fields: \(access)")
        #expect(records.allSatisfy { $0["MESSAGE"]?.firstMatch(of: /^\d{4}-\d\d-\d\dT/) == nil }, "the journal stamps records; vnetd does not")
        kill(pid, SIGTERM)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        #expect(VnetdProcess.describe(status) == "exit 0")
        let stopping = Self.records(in: received) ?? []
        #expect(stopping.contains { $0["MESSAGE"] == "received signal 15, stopping" && $0["PRIORITY"] == "5" })
        let text = (try? String(contentsOfFile: stderrFile, encoding: .utf8)) ?? ""
        #expect(!text.contains(" notice vnetd: "), "nothing is written twice, on standard error as well: \(text.suffix(500))")
    }

    /// Metadata keys become journal field names; the three ids have their own, a value with a
    /// newline goes in the binary form.
    @Test func fieldNamesAndValuesFollowTheProtocol() throws {
        #expect(JournalLogHandler.fieldName("network") == "NETWORK_ID")
        #expect(JournalLogHandler.fieldName("vm") == "VM_ID")
        #expect(JournalLogHandler.fieldName("nic") == "NIC_ID")
        #expect(JournalLogHandler.fieldName("client-address") == "CLIENT_ADDRESS")
        #expect(JournalLogHandler.fieldName("message") == "VNETD_MESSAGE", "a metadata key never overrides the journal's own fields")
        #expect(JournalLogHandler.fieldName("_PID") == nil && JournalLogHandler.fieldName("9lives") == nil && JournalLogHandler.fieldName("") == nil)
        let bytes = JournalLogHandler.encode([("MESSAGE", "two\nlines"), ("PRIORITY", "3")])
        #expect(Self.fields(bytes) == ["MESSAGE": "two\nlines", "PRIORITY": "3"])
        #expect(bytes.starts(with: Array("MESSAGE\n".utf8) + [9, 0, 0, 0, 0, 0, 0, 0]))
    }
}

/// sd_notify's protocol with the real binary, as systemd runs a `Type=notify` unit with a
/// watchdog: READY only once the site answers, watchdog pings while it runs, RELOADING and READY
/// around a SIGHUP, STOPPING at the stop.
@Suite("Notifications to systemd, on the real binary", .serialized)
struct ServiceNotifyTests {
    /// Receives datagrams on a unix socket for `seconds`; each line of the output file is one
    /// datagram with its newlines as `|`, and the time it came (monotonic).
    static let listener = """
        import socket, sys, time
        path, out, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(path)
        open(out + ".ready", "w").close()
        deadline = time.time() + seconds
        with open(out, "a") as f:
            while time.time() < deadline:
                s.settimeout(max(0.1, deadline - time.time()))
                try: d = s.recv(65536)
                except socket.timeout: continue
                f.write(d.decode().replace("\\n", "|") + "\\n"); f.flush()
        """

    @Test func readyOnlyWhenServingThenWatchdogReloadAndStop() throws {
        let binary = try #require(vnetdExecutable, "the vnetd executable is built by `swift build`")
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let socket = folder.path + "/notify", received = folder.path + "/notify.txt"
        let listener = try spawn(["timeout", "40", "/usr/bin/python3", "-c", Self.listener, socket, received, "35"], logFile: folder.path + "/listener.log")
        defer { kill(listener, SIGKILL); waitpid(listener, nil, 0) }
        try #require(eventually(10) { FileManager.default.fileExists(atPath: received + ".ready") })
        let port = unusedLoopbackPort()
        let log = folder.path + "/vnetd.log"
        let pid = try spawn(["env", "NOTIFY_SOCKET=\(socket)", "WATCHDOG_USEC=400000", binary, "serve", "--listen", "127.0.0.1:\(port)",
                             "--data-dir", folder.path + "/data", "--templates", repositoryRoot + "/Templates", "--public", repositoryRoot + "/Public"],
                            logFile: log)
        defer { kill(pid, SIGKILL); waitpid(pid, nil, 0) }  // bounded: killed whatever happens
        func lines() -> [String] { ((try? String(contentsOfFile: received, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) }
        #expect(eventually(15) { lines().contains { $0.hasPrefix("READY=1|STATUS=serving http://127.0.0.1:\(port)/") } }, "\(lines())")
        #expect(try HTTPTestClient(port: port).get("/login").status == 200, "READY came once the site answers")
        #expect(eventually(5) { lines().filter { $0 == "WATCHDOG=1" }.count >= 3 }, "pings every 0.2 s: \(lines())")

        kill(pid, SIGHUP)
        #expect(eventually(5) { lines().contains { $0.hasPrefix("RELOADING=1|MONOTONIC_USEC=") } && lines().filter { $0.hasPrefix("READY=1") }.count == 2 },
                "\(lines())")
        kill(pid, SIGTERM)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        #expect(VnetdProcess.describe(status) == "exit 0")
        #expect(lines().contains("STOPPING=1|STATUS=stopping"))
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(text.contains("reload: plain HTTP, nothing to read again"))
    }
}
