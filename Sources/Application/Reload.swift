import Foundation
import Logging

extension VnetdApplication {
    /// What SIGHUP does: reads the TLS certificate and key again (a renewal) and presents them
    /// from the next handshake on. The listener, open connections and the switches are not
    /// touched. A pair that cannot serve is refused with one error line and the running one kept.
    /// Returns a line for the log and the service manager's status.
    @discardableResult
    public func reload() -> String {
        guard configuration.usesTLS else {
            logger.notice("reload: plain HTTP, nothing to read again")
            return "nothing to reload (plain HTTP)"
        }
        do {
            guard let identity = try SiteSecurity.identity(for: configuration, now: Date(), logger: logger) else {
                return "nothing to reload"
            }
            try server.reloadTLS(identity)
            let expiry = identity.expirationTime.map { " (valid until \(Date(timeIntervalSince1970: TimeInterval($0)).formatted(.iso8601)))" } ?? ""
            let line = "reloaded the TLS certificate\(expiry); new connections get it, open ones keep theirs"
            logger.notice("\(line)")
            return line
        } catch {
            let line = "reload refused, the site keeps its current certificate: \(error)"
            logger.error("\(line)")
            return line
        }
    }
}

extension VnetdApplication {
    /// For the watchdog: true once every switch thread has run a round. A thread that hangs
    /// keeps this from returning, the pings stop and systemd restarts vnetd.
    public var isServing: Bool {
        dataplane.settle()
        return true
    }
}
