import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Packets

/// A network interface of the host, as `/sys/class/net` describes it.
public struct HostInterface: Sendable, Equatable {
    public var name: String
    public var mac: MACAddress?
    /// Administratively up (`IFF_UP`).
    public var isUp: Bool
    /// Link detected (`carrier` = 1).
    public var hasCarrier: Bool
    public var speedMbps: Int?
    public var isWireless: Bool
    /// The interfaces enslaved to it, when it is a bridge (`brif/`).
    public var bridgePorts: [String] = []
}

/// Lists the host's Ethernet adapters that external networks could use.
///
/// Policy: loopback, non-Ethernet links (ARPHRD type other than 1) and vnetd's own interfaces
/// (names starting with `ownPrefix`) are left out; everything else, physical or virtual
/// (bridges, veth, bonds, VLANs), is listed, because an administrator may bind any of them.
public struct HostInterfaceScanner: Sendable {
    /// Prefix of every interface vnetd creates (TAP devices), so it never offers its own ports.
    public static let ownPrefix = "vnd"
    public let root: String

    public init(root: String = "/sys/class/net") {
        self.root = root
    }

    public func scan() -> [HostInterface] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return names.sorted().compactMap(interface(named:))
    }

    public func interface(named name: String) -> HostInterface? {
        guard name != "lo", !name.hasPrefix(Self.ownPrefix) else { return nil }
        let folder = root + "/" + name
        guard read(folder + "/type").flatMap(Int.init) == 1 else { return nil }
        let flags = read(folder + "/flags").flatMap { Int($0.dropFirst(2), radix: 16) } ?? 0
        let speed = read(folder + "/speed").flatMap(Int.init).flatMap { $0 > 0 ? $0 : nil }
        let manager = FileManager.default
        return HostInterface(
            name: name,
            mac: read(folder + "/address").flatMap(MACAddress.init(parsing:)),
            isUp: flags & 0x1 != 0,
            hasCarrier: read(folder + "/carrier") == "1",
            speedMbps: speed,
            isWireless: manager.fileExists(atPath: folder + "/wireless") || manager.fileExists(atPath: folder + "/phy80211"),
            bridgePorts: ((try? manager.contentsOfDirectory(atPath: folder + "/brif")) ?? []).sorted())
    }

    /// The trimmed first line of a sysfs attribute; nil when it cannot be read (some, like
    /// `speed` of a down link, fail with EINVAL by design).
    private func read(_ path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// The IPv4 networks the host's interfaces are on (from getifaddrs), loopback included.
public enum HostAddresses {
    public static func ipv4Networks() -> [(network: IPv4Address, mask: IPv4Address)] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return [] }
        defer { freeifaddrs(list) }
        var result: [(IPv4Address, IPv4Address)] = []
        var cursor: UnsafeMutablePointer<ifaddrs>? = first
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            guard let address = entry.pointee.ifa_addr, let netmask = entry.pointee.ifa_netmask,
                  address.pointee.sa_family == sa_family_t(AF_INET) else { continue }
            let ip = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt32(bigEndian: $0.pointee.sin_addr.s_addr) }
            let mask = netmask.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt32(bigEndian: $0.pointee.sin_addr.s_addr) }
            result.append((IPv4Address(value: ip & mask), IPv4Address(value: mask)))
        }
        return result
    }
}
