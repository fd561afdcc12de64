import Application
import Foundation
import Packets
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// `GET /metrics` on the real binary, as Prometheus scrapes it: refused without a token or an
/// allowed address, and with one a text every line of which a strict reader accepts and the
/// Prometheus project's own parser reads, holding the facts the issue lists.
@Suite("Metrics for monitoring, on the real binary", .serialized)
struct MetricsTests {
    /// prometheus_client's parser (Debian's python3-prometheus-client): one line per sample.
    static let parser = """
        import sys
        from prometheus_client.parser import text_string_to_metric_families
        for family in text_string_to_metric_families(sys.stdin.read()):
            for sample in family.samples:
                labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                print(f"{family.type} {sample.name} {{{labels}}} {sample.value}")
        """

    /// The text format's grammar, strictly: HELP and TYPE once per family and before its
    /// samples, sample names and labels well formed, values numbers, samples of a family together.
    static func strictProblems(_ text: String) -> [String] {
        var problems: [String] = []
        var typed: [String: String] = [:]
        var finished = Set<String>()
        var current: String?
        let name = /[a-zA-Z_:][a-zA-Z0-9_:]*/
        let sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\\n])*"(,[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\\n])*")*)?\})? (-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?|NaN|[+-]Inf)$/
        guard text.hasSuffix("\n") else { return ["the text does not end with a newline"] }
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
            if line.hasPrefix("# HELP ") || line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ", maxSplits: 3)
                guard parts.count >= 3, (try? name.wholeMatch(in: parts[2])) != nil else { problems.append("bad comment: \(line)"); continue }
                let family = String(parts[2])
                if family != current, let current { finished.insert(current) }
                if finished.contains(family) { problems.append("\(family) comes back after other families") }
                current = family
                if line.hasPrefix("# TYPE ") {
                    guard parts.count == 4, ["counter", "gauge"].contains(parts[3]) else { problems.append("bad type: \(line)"); continue }
                    if typed[family] != nil { problems.append("\(family) typed twice") }
                    typed[family] = String(parts[3])
                }
                continue
            }
            guard let match = try? sample.wholeMatch(in: line) else { problems.append("not a sample: \(line)"); continue }
            let family = String(match.1)
            guard family == current else { problems.append("\(family) outside its family: \(line)"); continue }
            guard let type = typed[family] else { problems.append("\(family) has no TYPE"); continue }
            if type == "counter" && !family.hasSuffix("_total") { problems.append("counter \(family) does not end in _total") }
        }
        return problems
    }

    /// The samples prometheus_client read, `type name {labels} value` each; fails the test when it cannot parse.
    static func parsed(_ text: String) throws -> [String] {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        try Data(text.utf8).write(to: URL(fileURLWithPath: folder.path + "/metrics.txt"))
        return try run(["sh", "-c", "/usr/bin/python3 -c '\(parser)' < \(folder.path)/metrics.txt"]).output.split(separator: "\n").map(String.init)
    }

    static func value(_ samples: [String], _ prefix: String) -> Double? {
        samples.first { $0.contains(prefix) }.flatMap { $0.split(separator: " ").last }.flatMap { Double($0) }
    }

    @Test func metricsAreRefusedWithoutATokenAndParseWithOne() throws {
        let binary = try #require(vnetdExecutable, "the vnetd executable is built by `swift build`")
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let data = folder.path + "/data"
        try run([binary, "populate", "--data-dir", data, "--networks", "1", "--vms", "2", "--allow-mac-spoofing"])
        let token = try run([binary, "token", "add", "prometheus", "--data-dir", data]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(token.hasPrefix("vnetd_") && token.utf8.count == 70, "a token of 32 random bytes: \(token)")
        let stored = try run(["sh", "-c", "cat \(data)/vnetd.sqlite* | grep -ac \(token) || true"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(stored == "0", "only its hash is stored")
        #expect(try run([binary, "token", "list", "--data-dir", data]).output.hasPrefix("prometheus\tmade "))
        #expect(try run([binary, "token", "add", "prometheus", "--data-dir", data], check: false).status != 0, "names are unique")

        let vnetd = try VnetdProcess(data: data, logFile: folder.path + "/vnetd.log")
        let url = "http://127.0.0.1:\(vnetd.port)/metrics"
        func scrape(_ headers: [String] = []) throws -> (status: String, body: String) {
            let out = folder.path + "/scrape.txt"
            let status = try run(["curl", "-s", "-o", out, "-w", "%{http_code}"] + headers.flatMap { ["-H", $0] } + [url], check: false).output
            return (status, (try? String(contentsOfFile: out, encoding: .utf8)) ?? "")
        }
        #expect(try scrape().status == "401")
        #expect(try scrape(["Authorization: Bearer vnetd_" + String(repeating: "0", count: 64)]).status == "401", "an unknown token")
        #expect(try scrape(["Authorization: Basic YWRtaW46YWRtaW4="]).status == "401")
        let headers = try run(["curl", "-s", "-D", "-", "-o", "/dev/null", url]).output
        #expect(headers.contains("WWW-Authenticate: Bearer"))

        // Traffic first, so the counters have something to say.
        let sockets = try FileManager.default.contentsOfDirectory(atPath: data + "/run").filter { $0.hasSuffix(".sock") }.sorted()
        try #require(sockets.count == 2)
        let one = try StreamPeer(path: data + "/run/" + sockets[0])
        let other = try StreamPeer(path: data + "/run/" + sockets[1])
        let frame = EthernetBuilder.header(destination: .broadcast, source: MACAddress(value: 0x0200_0000_7777), type: EtherType(rawValue: 0x88B5))
            + [UInt8](repeating: 7, count: 46)
        #expect(try one.send(frame, reaching: other))

        // The data path publishes its counters every second: scrape until the frame shows.
        var (status, body) = try scrape(["Authorization: Bearer \(token)"])
        _ = eventually(5) {
            (status, body) = (try? scrape(["Authorization: Bearer \(token)"])) ?? ("", "")
            return body.split(separator: "\n").first { $0.hasPrefix("vnetd_network_received_frames_total{") }.map { !$0.hasSuffix(" 0") } ?? false
        }
        #expect(status == "200")
        #expect(Self.strictProblems(body) == [], "\(body.prefix(2000))")
        let samples = try Self.parsed(body)
        #expect(samples.count > 20, "\(samples)")
        for family in ["vnetd_network_info", "vnetd_port_received_frames_total", "vnetd_port_sent_bytes_total", "vnetd_network_received_frames_total",
                       "vnetd_mac_table_entries", "vnetd_http_requests_total", "process_resident_memory_bytes", "vnetd_build_info"] {
            #expect(samples.contains { $0.contains(" \(family) ") }, "\(family) is there")
        }
        #expect((Self.value(samples, "vnetd_http_requests_total {code=401}") ?? 0) >= 3, "the refused scrapes were counted")
        #expect((Self.value(samples, " process_resident_memory_bytes ") ?? 0) > 1_000_000)
        #expect((Self.value(samples, " vnetd_network_received_frames_total ") ?? 0) >= 1, "the frame sent is counted")
        #expect(samples.filter { $0.contains(" vnetd_port_received_frames_total ") }.count == 2, "one per port")
        #expect((Self.value(samples, " vnetd_mac_table_entries ") ?? 0) >= 1)

        // The status pages in JSON, for scripts: the same facts, behind the same sign-in.
        let browser = try SignedInClient(port: vnetd.port, initialPasswordFile: data + "/initial-admin-password")
        func json(_ path: String) throws -> Any {
            let reply = try browser.client.get(path, headers: ["Cookie": browser.cookieHeader, "Accept": "application/json"])
            #expect(reply.status == 200 && reply.header("Content-Type") == "application/json", "\(path): \(reply.status)")
            return try JSONSerialization.jsonObject(with: Data(reply.body))
        }
        let master = try #require(try json("/") as? [String: Any])
        #expect((master["summary"] as? [String: Any])?["networks"] as? Int == 1)
        #expect((master["server"] as? [String: Any])?["version"] as? String == vnetdVersion)
        let networks = try #require(try json("/networks") as? [[String: Any]])
        let networkID = try #require(networks.first?["id"] as? String)
        let network = try #require(try json("/networks/\(networkID)") as? [String: Any])
        let ports = try #require(network["ports"] as? [[String: Any]])
        #expect(ports.count == 2 && ports.allSatisfy { $0["attached"] as? Bool == true }, "\(ports)")
        #expect(((network["totals"] as? [String: Any])?["receivedFrames"] as? Int ?? 0) >= 1)
        let vms = try #require(try json("/vms") as? [[String: Any]])
        let vmID = try #require(vms.first?["id"] as? String)
        let vm = try #require(try json("/vms/\(vmID)") as? [String: Any])
        #expect((vm["nics"] as? [[String: Any]])?.first?["network"] as? String == networkID)
        #expect(try browser.get("/networks").header("Content-Type")?.hasPrefix("text/html") == true, "browsers still get the page")
        #expect(try HTTPTestClient(port: vnetd.port).get("/networks", headers: ["Accept": "application/json"]).status == 303, "not without signing in")

        #expect(try run([binary, "token", "remove", "prometheus", "--data-dir", data]).status == 0)
        #expect(try scrape(["Authorization: Bearer \(token)"]).status == "401", "a removed token no longer reads")
        #expect(vnetd.stop() == "exit 0")

        // An allowed address needs no token; another address would.
        let allowed = try VnetdProcess(data: data, logFile: folder.path + "/allowed.log", arguments: ["--metrics-allow", "127.0.0.0/8"])
        let open = try run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(allowed.port)/metrics"], check: false).output
        #expect(open == "200")
        #expect(allowed.stop() == "exit 0")
        let elsewhere = try VnetdProcess(data: data, logFile: folder.path + "/elsewhere.log", arguments: ["--metrics-allow", "10.0.0.0/8"])
        #expect(try run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(elsewhere.port)/metrics"], check: false).output == "401")
        #expect(elsewhere.stop() == "exit 0")
    }
}
