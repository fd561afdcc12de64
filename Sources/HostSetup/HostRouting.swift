import CHostSetup
import Foundation
import Packets

/// The host's routing facts vnetd reads, and the per-interface switches it sets, in the network
/// namespace vnetd runs in. vnetd never writes `net.ipv4.ip_forward` or `.../all/forwarding`.
///
/// What Linux needs (measured on kernel 6.18 in namespaces): IPv4 forwards a packet when the
/// interface it *arrived on* has `net.ipv4.conf.<if>.forwarding` = 1, so a NAT network needs it
/// on its host interface (VMs' packets out) and on the outbound interface (replies back in).
/// IPv6 forwards only with `net.ipv6.conf.all.forwarding` = 1, or since 6.17 with
/// `net.ipv6.conf.<if>.force_forwarding` = 1 on the arriving interface: vnetd uses the latter on
/// the same two interfaces and, where the kernel lacks it, leaves IPv6 unforwarded and says so.
public enum HostRouting {
    public static let procRoot = "/proc"

    /// The interface of the IPv4 default route with the lowest metric, from /proc/net/route.
    public static func defaultRouteInterface() -> String? {
        guard let text = try? String(contentsOfFile: procRoot + "/net/route", encoding: .utf8) else { return nil }
        return parseDefaultRoute(text)
    }

    public static func parseDefaultRoute(_ text: String) -> String? {
        var best: (String, Int)?
        for line in text.split(separator: "\n").dropFirst() {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 8, fields[1] == "00000000", fields[7] == "00000000", let flags = Int(fields[3], radix: 16),
                  flags & 0x1 != 0, let metric = Int(fields[6]) else { continue }
            if best == nil || metric < best!.1 { best = (String(fields[0]), metric) }
        }
        return best?.0
    }

    public enum Family: String, Sendable { case ipv4, ipv6 }

    /// The path of an interface's forwarding switch (`force_forwarding` for IPv6).
    public static func forwardingPath(_ family: Family, interface: String) -> String {
        family == .ipv4 ? "\(procRoot)/sys/net/ipv4/conf/\(interface)/forwarding" : "\(procRoot)/sys/net/ipv6/conf/\(interface)/force_forwarding"
    }

    /// nil when the switch does not exist (no such interface, or no `force_forwarding`).
    public static func forwarding(_ family: Family, interface: String) -> Bool? {
        guard let text = try? String(contentsOfFile: forwardingPath(family, interface: interface), encoding: .utf8) else { return nil }
        return text.trimmingCharacters(in: .whitespacesAndNewlines) == "1"
    }

    public static func setForwarding(_ family: Family, interface: String, _ on: Bool) -> Bool {
        writeSwitch(forwardingPath(family, interface: interface), on)
    }

    /// Duplicate address detection off on vnetd's own interface: its IPv6 address is usable at once.
    public static func disableDAD(interface: String) {
        _ = writeSwitch("\(procRoot)/sys/net/ipv6/conf/\(interface)/accept_dad", false)
    }

    static func writeSwitch(_ path: String, _ on: Bool) -> Bool {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let byte: [UInt8] = [on ? 0x31 : 0x30, 0x0A]
        return byte.withUnsafeBytes { write(fd, $0.baseAddress, 2) } == 2
    }

    /// Adds the host's address on a network to its interface; errno on failure.
    public static func addIPv4(_ address: IPv4Address, prefixLength: Int, to interface: String) -> Int32 {
        let octets = address.octets
        return -vnetd_setup_ipv4_address(interface, octets, Int32(prefixLength))
    }

    public static func addIPv6(_ address: [UInt8], prefixLength: Int, to interface: String) -> Int32 {
        guard address.count == 16 else { return EINVAL }
        return -vnetd_setup_ipv6_address(interface, address, Int32(prefixLength), 1)
    }

    public static func removeIPv6(_ address: [UInt8], prefixLength: Int, from interface: String) -> Int32 {
        guard address.count == 16 else { return EINVAL }
        return -vnetd_setup_ipv6_address(interface, address, Int32(prefixLength), 0)
    }
}
