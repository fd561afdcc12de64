import Domain
import Synchronization

/// The host interfaces' state, written by the loops when it changes (rarely: open, address,
/// close) and read by status pages and the NAT controller. Never touched on the frame path.
final class HostNetworkRegistry: Sendable {
    private let state = Mutex([NetworkID: HostInterfaceStatus]())

    func record(_ network: NetworkID, _ status: HostInterfaceStatus) {
        state.withLock { $0[network] = status }
    }

    func forget(_ network: NetworkID) {
        _ = state.withLock { $0.removeValue(forKey: network) }
    }

    func status(of network: NetworkID) -> HostInterfaceStatus? {
        state.withLock { $0[network] }
    }
}
