import Foundation
import Storage
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The real `vnetd serve`, as a process of its own started the way a user starts it: default
/// signal dispositions, its own memory, its log in a file the test reads. A crash is seen as a
/// crash (`exitStatus` says which signal), and `stop` checks the clean stop a user relies on.
final class VnetdProcess {
    let pid: pid_t
    let port: UInt16
    let data: String
    let logFile: String
    private var reaped: Int32?

    /// Starts `vnetd serve` on a random loopback port with `data` as its data folder and waits
    /// until the sign-in page answers (15 s at most). `launcher` goes before the binary
    /// (`prlimit …`, `setpriv …`).
    init(data: String, logFile: String, arguments: [String] = [], launcher: [String] = [], waitUntilServing: Bool = true) throws {
        let vnetd = try #require(vnetdExecutable, "the vnetd executable is built by `swift build`")
        self.data = data
        self.logFile = logFile
        port = unusedLoopbackPort()
        pid = try spawn(launcher + [vnetd, "serve", "--listen", "127.0.0.1:\(port)", "--data-dir", data, "--log-level", "info",
                         "--templates", repositoryRoot + "/Templates", "--public", repositoryRoot + "/Public"] + arguments,
                        logFile: logFile)
        if waitUntilServing {
            let port = port
            guard eventually(15, { (try? HTTPTestClient(port: port).get("/login").status) == 200 }) else {
                _ = stop(signal: SIGKILL)
                throw CommandFailure(description: "vnetd did not start serving: \(log.suffix(2000))")
            }
        }
    }

    var log: String { (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "" }

    /// Log lines at error level or above, less those a test expects.
    func errorLines(except expected: [String] = []) -> [String] {
        log.split(separator: "\n").map(String.init).filter { line in
            (line.contains(" error ") || line.contains(" critical ")) && !expected.contains { line.contains($0) }
        }
    }

    /// True while the process has not ended.
    var isRunning: Bool {
        guard reaped == nil else { return false }
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        if result == pid { reaped = status }
        return result == 0
    }

    /// How it ended: "exit N" or "killed by signal N"; nil while it runs.
    var exitDescription: String? {
        _ = isRunning
        return reaped.map(Self.describe)
    }

    static func describe(_ status: Int32) -> String {
        (status & 0x7F) == 0 ? "exit \((status >> 8) & 0xFF)" : "killed by signal \(status & 0x7F)"
    }

    /// Sends `signal` and waits for the process; returns how it ended.
    @discardableResult
    func stop(signal: Int32 = SIGTERM) -> String {
        if reaped == nil {
            kill(pid, signal)
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            reaped = status
        }
        return exitDescription ?? "?"
    }

    /// Waits (10 s at most) for a process that should end by itself; returns how it ended.
    func waitForExit(seconds: Double = 10) -> String? {
        _ = eventually(seconds) { !isRunning }
        return exitDescription
    }

    /// The kinds of events stored in its database, newest first (vnetd may be stopped or running).
    func storedEventKinds() throws -> [String] {
        let database = try VnetdDatabase(directory: data)
        defer { try? database.close() }
        return try SQLiteEventLog(database: database).page(offset: 0, limit: 50).events.map(\.kind.rawValue)
    }

    deinit {
        if reaped == nil { _ = stop(signal: SIGKILL) }
    }
}
