import Domain
import Foundation

/// After a create, an add or a change of how an adapter attaches, the data path opens the port
/// within a fraction of a second; the page the browser is sent to should already show its attach
/// command, not "Starting…" (or the old socket) until a reload. The action waits for that,
/// briefly and with a bound: a port that takes longer is shown as it is.
enum PortReadiness {
    static let limit: TimeInterval = 1

    static func wait(for nics: [VirtualNIC], _ status: any RuntimeStatusReading) {
        let deadline = Date().addingTimeInterval(limit)
        while nics.contains(where: { !isReady($0, status.status(of: $0.id)) }), Date() < deadline {
            usleep(10_000)
        }
    }

    /// The status reports a port of the adapter's kind (or a reason it has none).
    static func isReady(_ nic: VirtualNIC, _ port: PortRuntimeStatus) -> Bool {
        guard port.detail != "Starting…" else { return false }
        guard let endpoint = port.endpoint else { return true }
        switch nic.backend {
        case .socket: return endpoint.hasSuffix(".sock")
        case .datagram: return endpoint.hasSuffix(".dgram")
        case .vhostUser: return endpoint.hasSuffix(".vhost")
        case .tap: return !endpoint.hasSuffix(".sock") && !endpoint.hasSuffix(".dgram") && !endpoint.hasSuffix(".vhost")
        }
    }
}
