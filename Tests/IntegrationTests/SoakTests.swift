import Foundation
import Synchronization
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// 256 browsers at once for a minute against a real vnetd with a populated store: no request
/// fails and memory does not creep. Figures printed go to bench/RESULTS.md.
///
/// It measures the site, so it gets the machine to itself: `make test` runs it on its own after the
/// rest (VNETD_SOAK=1), not beside the broadcast storm and the emulated QEMU VM.
@Suite("The admin site under sustained load", .serialized,
       .enabled(if: ProcessInfo.processInfo.environment["VNETD_SOAK"] != nil, "runs on its own: VNETD_SOAK=1 swift test --filter SoakTests"))
struct SoakTests {
    static let seconds = 60
    /// About half of what this machine does. bench/RESULTS.md recorded 123,271 requests in 60 s
    /// (release build, 2026-11-26, GETs only); the machine has been about 1.8x slower since. Measured
    /// here on 2026-12-01 with this test as `make test` runs it (debug build, 256 readers and the
    /// saver beside them), twice: 94,594 and 95,486 requests, 123 and 126 saves. The bars are half.
    static let requestBar: Double = 47_000
    static let saveBar = 60

    @Test func twoHundredFiftySixConnectionsForAMinuteGiveNoErrorsAndFlatMemory() throws {
        let vnetd = try #require(
            vnetdExecutable,
            "the vnetd executable is built by `swift build`")
        let wrk = try #require(["/usr/bin/wrk", "/usr/local/bin/wrk"].first { FileManager.default.isExecutableFile(atPath: $0) },
                               "wrk is missing: `make test` installs it")
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let data = folder.path + "/data"
        try run([vnetd, "populate", "--data-dir", data, "--networks", "100", "--vms", "100", "--nics-per-vm", "2"])
        let port = unusedLoopbackPort()
        let pid = try spawn([vnetd, "serve", "--listen", "127.0.0.1:\(port)", "--data-dir", data, "--log-level", "warning",
                             "--templates", repositoryRoot + "/Templates", "--public", repositoryRoot + "/Public"],
                            logFile: folder.path + "/vnetd.log")
        defer {
            kill(pid, SIGTERM)
            waitpid(pid, nil, 0)
        }
        #expect(eventually(15) { (try? HTTPTestClient(port: port).get("/login").status) == 200 })
        let browser = try SignedInClient(port: port, initialPasswordFile: data + "/initial-admin-password")
        let vmPath = try #require(try browser.get("/vms").text.firstMatch(of: /\/vms\/[0-9a-f-]{36}/).map { String($0.output) })
        let script = folder.path + "/pages.lua"
        try """
        local paths = {"/", "/networks", "/vms", "\(vmPath)", "/events", "/adapters", "/static/css/vnetd.css"}
        local i = 0
        request = function()
          i = i + 1
          return wrk.format("GET", paths[(i % #paths) + 1], {["Cookie"] = "\(browser.cookieHeader)"})
        end
        done = function(summary, latency, requests)
          io.write(string.format("SOAK requests=%d non2xx=%d connect=%d read=%d write=%d timeout=%d p50=%.2f p99=%.2f\\n",
            summary.requests, summary.errors.status, summary.errors.connect, summary.errors.read, summary.errors.write,
            summary.errors.timeout, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
        end
        """.write(toFile: script, atomically: true, encoding: .utf8)

        let warmUp = try run([wrk, "-t2", "-c256", "-d5s", "-s", script, "http://127.0.0.1:\(port)"]).output
        #expect(warmUp.contains("SOAK"))
        let before = try residentKiB(of: pid)
        let saver = Saver(browser: browser, settings: vmPath + "/settings")
        let soak = try run([wrk, "-t2", "-c256", "-d\(Self.seconds)s", "--timeout", "10s", "-s", script, "http://127.0.0.1:\(port)"]).output
        let saves = saver.finish()
        let after = try residentKiB(of: pid)
        let line = try #require(soak.split(separator: "\n").first { $0.hasPrefix("SOAK ") }.map(String.init), "\(soak)")
        func figure(_ name: String) -> Double? {
            line.split(separator: " ").first { $0.hasPrefix(name + "=") }.flatMap { Double($0.dropFirst(name.count + 1)) }
        }
        #expect((figure("requests") ?? 0) >= Self.requestBar, "the load was real: \(line)")
        #expect(saves.failures.isEmpty, "every save while the readers ran was stored: \(saves.failures.prefix(3))")
        #expect(saves.count >= Self.saveBar, "saves kept going beside 256 readers: \(saves.count) in \(Self.seconds) s")
        let stored = try browser.get(vmPath + "/settings").text
        #expect(saves.last.map { stored.contains(">\($0)</textarea>") } == true, "the last save is what the page shows")
        for error in ["non2xx", "connect", "read", "write", "timeout"] {
            #expect(figure(error) == 0, "\(error) errors: \(line)")
        }
        #expect(after - before < 16 * 1024, "memory stays flat: \(before) KiB before, \(after) KiB after")
        #expect(try browser.get("/").status == 200, "the session and the site are fine afterwards")
        print("wrk soak: 256 connections, \(Self.seconds) s: \(line); \(saves.count) saves beside them; RSS \(before / 1024) MiB before, \(after / 1024) MiB after")
    }

    /// One browser saving a VM's settings over and over while wrk reads: it fetches the form (for
    /// its version and token, as a browser does), posts it and requires the 303 of a stored save.
    final class Saver: @unchecked Sendable {
        private let state = Mutex<(stop: Bool, count: Int, last: String?, failures: [String])>((false, 0, nil, []))
        private let done = DispatchSemaphore(value: 0)

        init(browser: SignedInClient, settings: String) {
            let thread = Thread { [self] in
                var round = 0
                while !state.withLock({ $0.stop }) {
                    round += 1
                    let notes = "soak save \(round)"
                    do {
                        let form = try browser.get(settings).text
                        let version = form.firstMatch(of: /name="version" value="(\d+)"/).map { String($0.output.1) } ?? "?"
                        let name = form.firstMatch(of: /id="name" name="name" value="([^"]*)"/).map { String($0.output.1) } ?? "?"
                        let reply = try browser.post(settings, [("version", version), ("name", name), ("notes", notes)])
                        state.withLock {
                            if reply.status == 303 { $0.count += 1; $0.last = notes } else { $0.failures.append("\(notes): \(reply.status)") }
                        }
                    } catch {
                        state.withLock { $0.failures.append("\(notes): \(error)") }
                    }
                }
                done.signal()
            }
            thread.start()
        }

        func finish() -> (count: Int, last: String?, failures: [String]) {
            state.withLock { $0.stop = true }
            done.wait()
            return state.withLock { ($0.count, $0.last, $0.failures) }
        }
    }
}

/// Resident memory of another process, in KiB.
func residentKiB(of pid: pid_t) throws -> Int {
    let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
    guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
          let value = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap({ Int($0) })
    else { throw CommandFailure(description: "no VmRSS for \(pid)") }
    return value
}
