import Foundation
import HostNet
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Tells systemd how vnetd is doing (`sd_notify`'s protocol: `KEY=value` lines in one datagram
/// to `$NOTIFY_SOCKET`): READY once the site listens and the switches run, RELOADING around a
/// SIGHUP, STOPPING at the stop, and watchdog pings while `WATCHDOG_USEC` asks for them.
/// Without `NOTIFY_SOCKET` (not started by systemd, or not `Type=notify`) every call does nothing.
public final class ServiceNotifier: Sendable {
    private let socket: UnixDatagramSender?
    private let logger: Logger
    /// Microseconds between pings systemd expects at most; nil: no watchdog.
    public let watchdogInterval: UInt64?

    /// Reads (and removes, so programs vnetd starts do not talk to systemd in its name) the
    /// variables systemd sets.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment, logger: Logger) {
        self.logger = logger
        var sender: UnixDatagramSender?
        if let path = environment["NOTIFY_SOCKET"], !path.isEmpty {
            do {
                sender = try UnixDatagramSender(path: path)
            } catch {
                logger.warning("cannot reach systemd's notification socket \(path): \(error)")
            }
        }
        socket = sender
        let pidMatches = environment["WATCHDOG_PID"].map { Int32($0) == getpid() } ?? true
        if let text = environment["WATCHDOG_USEC"], let interval = UInt64(text), interval > 0, pidMatches, sender != nil {
            watchdogInterval = interval
        } else {
            watchdogInterval = nil
        }
        unsetenv("NOTIFY_SOCKET")
        unsetenv("WATCHDOG_USEC")
        unsetenv("WATCHDOG_PID")
    }

    public var isActive: Bool { socket != nil }

    public func ready(status: String) { send("READY=1\nSTATUS=\(Self.oneLine(status))\nMAINPID=\(getpid())") }

    /// systemd 253 and later want the monotonic time with RELOADING (Type=notify-reload).
    public func reloading() {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        send("RELOADING=1\nMONOTONIC_USEC=\(Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1000)")
    }

    public func reloaded(status: String) { send("READY=1\nSTATUS=\(Self.oneLine(status))") }

    public func stopping() { send("STOPPING=1\nSTATUS=stopping") }

    /// Pings the watchdog at half the interval systemd asked for, as long as `healthy` says the
    /// process still works; a vnetd whose pings stop is killed and restarted by systemd.
    public func startWatchdog(healthy: @escaping @Sendable () -> Bool) {
        guard let interval = watchdogInterval else { return }
        let thread = Thread { [self] in
            let pause = max(TimeInterval(interval) / 2_000_000, 0.05)
            while true {
                if healthy() { send("WATCHDOG=1") }
                Thread.sleep(forTimeInterval: pause)
            }
        }
        thread.name = "vnetd watchdog"
        thread.start()
    }

    private func send(_ message: String) {
        guard let socket else { return }
        do {
            try socket.send(Array(message.utf8))
        } catch {
            logger.warning("cannot notify systemd: \(error)")
        }
    }

    private static func oneLine(_ text: String) -> String {
        String(text.map { $0.isNewline ? " " : $0 })
    }
}
