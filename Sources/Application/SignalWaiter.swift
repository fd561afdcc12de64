#if canImport(Glibc)
import Glibc
#endif

/// Clean shutdown on SIGINT and SIGTERM; SIGHUP asks for a reload.
///
/// `block()` must run before any server thread starts, so every thread inherits the blocked mask
/// and the signals stay pending until `wait()` collects them in one place, on the main thread.
/// (A SIGHUP that arrived before `block()` would still end the process, as by default.)
public enum SignalWaiter {
    public static func block() {
        var set = signals()
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// Waits for SIGINT, SIGTERM or SIGHUP and returns its number.
    public static func wait() -> Int32 {
        var set = signals()
        var received: Int32 = 0
        while sigwait(&set, &received) != 0 {}
        return received
    }

    public static func isReload(_ signal: Int32) -> Bool { signal == SIGHUP }

    private static func signals() -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGHUP)
        return set
    }
}
