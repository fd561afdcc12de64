import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Every connection the site holds is an open file, beside the store, the sockets and TAPs of
/// the data path. A service often starts with a soft limit of 1,024 open files (systemd's
/// default) while the hard limit is far higher; at 1,024 the site could not hold its 1,024
/// connections (libmicrohttpd stopped accepting near 990, "Too many open files"), so vnetd
/// raises the soft limit to the hard one, as a server process may.
enum OpenFileLimit {
    /// Files beyond the connections: the store, listening and data-path sockets, TAPs, logs.
    static let headroom = 256

    static func raise(toServe connections: Int, logger: Logger) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        let needed = rlim_t(connections + headroom)
        if limit.rlim_cur < needed {  // RLIM_INFINITY is the largest value
            logger.warning("""
                only \(limit.rlim_cur) files may be open (ulimit -n): fewer than the \(connections) connections the site \
                serves plus the data path's; raise the limit (LimitNOFILE= for a systemd service)
                """)
        }
    }
}
