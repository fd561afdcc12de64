import Domain
import Foundation
import HostNet
import HostSetup
import Packets
import Switching

/// The host's own port on a host or NAT network: a TAP whose interface stays in vnetd's network
/// namespace, named from the network (`HostInterfaceSettings.interfaceName`), with the host's
/// address on the network (the DHCP server's address) and the network's /64 ::1. Loop thread only.
///
/// DHCP on these networks: the kernel owns the host address, so it alone answers ARP for it (the
/// DHCP endpoint does not, see `DHCPEndpoint.hostInterfaceMAC`); the endpoint's replies come from
/// the interface's MAC, and a unicast request a client sends there (a RENEW) is switched to this
/// port, which hands it to the endpoint instead of the kernel. Broadcast DHCP reaches the
/// endpoint directly and is not passed to the kernel, and the switch drops DHCP server replies
/// coming from the host's side: a DHCP server of the host's never answers the network's VMs.
final class HostInterface: FrameSink {
    let name: String
    let id: PortID
    let mac: MACAddress
    private(set) var tap: TAPPort?
    private(set) var failure: String?
    /// What the interface was given, for the page and for the DNS server to bind to.
    private(set) var ipv4: (address: IPv4Address, prefixLength: Int)?
    private(set) var ipv6: IPv6Prefix?
    weak var endpoint: DHCPEndpoint?
    /// Unicast DHCP requests handed to the endpoint, broadcast DHCP kept from the kernel.
    private(set) var handedToServer: UInt64 = 0, keptFromKernel: UInt64 = 0

    init(network: NetworkID, id: PortID) {
        name = HostInterfaceSettings.interfaceName(for: network)
        self.id = id
        // Locally administered, from the network's id: VMs' ARP caches stay right across restarts.
        let hex = network.rawValue.filter(\.isHexDigit)
        let low = UInt64(hex.prefix(4), radix: 16) ?? UInt64(id.rawValue & 0xFFFF)
        mac = MACAddress(value: 0x0256_4E48_0000 | (low & 0xFFFF))
    }

    var isOpen: Bool {
        if case .attached? = tap?.state { return true }
        return false
    }

    /// Creates the TAP (once) and gives it its addresses; safe to call again after a change.
    func open(loop: EventLoop, fabric: VirtualSwitch) {
        if tap == nil {
            do {
                let port = try TAPPort(id: id, loop: loop, interfaceName: name)
                _ = port.setAddress(mac.octets)
                port.fabric = fabric
                tap = port
                failure = nil
            } catch {
                failure = error.isPermissionDenied
                    ? "Needs CAP_NET_ADMIN: run vnetd as root, or give it the capability (setcap cap_net_admin,cap_net_raw+ep), for the host's interface \(name) on this network."
                    : "Could not create the host's interface \(name): \(error)."
                return
            }
        }
        // The switch treats the host like a VM port: its MAC pinned, frames only from it, and no
        // DHCP server reply from the host's side (a DHCP server of the host's listening on every
        // interface) reaches the network's VMs while vnetd's server is on.
        fabric.attach(id, sink: self, role: .vm(mac: mac, allowsSpoofing: false))
    }

    /// Sets the interface's addresses: a new IPv4 address replaces the old (SIOCSIFADDR sets the
    /// primary address), a new /64's ::1 replaces the old prefix's.
    func configure(ipv4 wanted: (IPv4Address, Int)?, ipv6 prefix: IPv6Prefix?) {
        guard isOpen else { return }
        if let wanted, ipv4.map({ $0.address != wanted.0 || $0.prefixLength != wanted.1 }) ?? true {
            let error = HostRouting.addIPv4(wanted.0, prefixLength: wanted.1, to: name)
            if error == 0 {
                ipv4 = (wanted.0, wanted.1)
            } else {
                failure = "Could not give \(name) the address \(wanted.0)/\(wanted.1): \(String(cString: strerror(error)))."
            }
        }
        if let old = ipv6, old != prefix {
            _ = HostRouting.removeIPv6(old.hostAddress, prefixLength: 64, from: name)
            ipv6 = nil
        }
        if let prefix, prefix != ipv6 {
            HostRouting.disableDAD(interface: name)
            let error = HostRouting.addIPv6(prefix.hostAddress, prefixLength: 64, to: name)
            if error == 0 {
                ipv6 = prefix
            } else {
                failure = "Could not give \(name) the address \(IPv6Prefix.format(prefix.hostAddress))/64: \(String(cString: strerror(error)))."
            }
        }
    }

    func close(fabric: VirtualSwitch) {
        fabric.detach(id)
        tap?.close()
        tap = nil
        ipv4 = nil
        ipv6 = nil
    }

    // MARK: FrameSink, frames the switch sends to the host

    var handlesOffloads: Bool { true }

    func send(_ frame: UnsafeRawBufferPointer, offload: OffloadInfo) -> SendResult {
        if Self.isDHCPToServer(frame) {
            if let endpoint, let destination = EthernetFrame.addresses(of: frame)?.destination, !destination.isBroadcast {
                handedToServer &+= 1
                return endpoint.send(frame, offload: offload)
            }
            keptFromKernel &+= 1
            return .sent
        }
        // A query the network's zone answers is answered in the switch (DHCPEndpoint+DNS).
        if let endpoint, endpoint.answerDNSInSwitch(frame) { return .sent }
        guard let tap else { return .dropped(.notAttached) }
        return tap.send(frame, offload: offload)
    }

    /// IPv4 UDP to port 67, unfragmented, read from the fixed offsets of an untagged frame.
    static func isDHCPToServer(_ frame: UnsafeRawBufferPointer) -> Bool {
        guard frame.count >= 14 + 20 + 8, frame[12] == 0x08, frame[13] == 0x00, frame[23] == 17 else { return false }
        let headerLength = Int(frame[14] & 0x0F) * 4
        guard headerLength >= 20, frame.count >= 14 + headerLength + 8 else { return false }
        let fragment = (UInt16(frame[20] & 0x3F) << 8) | UInt16(frame[21])
        guard fragment == 0 else { return false }
        return frame[14 + headerLength + 2] == 0 && frame[14 + headerLength + 3] == 67
    }
}
