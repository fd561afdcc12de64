import Packets

/// What a save of a network's DHCP settings changed, in the words of its event: "range
/// 192.168.131.16–192.168.131.254 → 192.168.131.100–192.168.131.200; lease time 1 day → 12 hours".
/// Reservations are not listed here (their own actions record them).
enum DHCPChangeDescription {
    static func changes(from old: DHCPSettings, to new: DHCPSettings) -> [String] {
        var changes: [String] = []
        func note(_ label: String, _ before: String, _ after: String) {
            if before != after { changes.append("\(label) \(before.isEmpty ? "none" : before) → \(after.isEmpty ? "none" : after)") }
        }
        func list(_ addresses: [IPv4Address]) -> String { addresses.map(\.description).joined(separator: ", ") }
        note("network", "\(old.network)/\(old.prefixLength)", "\(new.network)/\(new.prefixLength)")
        note("range", "\(old.rangeStart)–\(old.rangeEnd)", "\(new.rangeStart)–\(new.rangeEnd)")
        note("server", old.server.description, new.server.description)
        note("gateway", old.gateway?.description ?? "", new.gateway?.description ?? "")
        note("DNS servers", list(old.dnsServers), list(new.dnsServers))
        note("WINS servers", list(old.winsServers), list(new.winsServers))
        note("lease time", LeaseDuration.format(old.leaseTime), LeaseDuration.format(new.leaseTime))
        note("renewal time", LeaseDuration.format(old.renewalTime), LeaseDuration.format(new.renewalTime))
        note("rebinding time", LeaseDuration.format(old.rebindingTime), LeaseDuration.format(new.rebindingTime))
        note("domain name", old.domainName ?? "", new.domainName ?? "")
        note("search list", old.searchDomains.joined(separator: ", "), new.searchDomains.joined(separator: ", "))
        note("classless routes", routes(old), routes(new))
        note("MTU", old.mtu.map(String.init) ?? "", new.mtu.map(String.init) ?? "")
        note("NTP servers", list(old.ntpServers), list(new.ntpServers))
        note("next server", old.boot.nextServer?.description ?? "", new.boot.nextServer?.description ?? "")
        note("BIOS boot file", old.boot.biosFile ?? "", new.boot.biosFile ?? "")
        note("UEFI boot file", old.boot.uefiFile ?? "", new.boot.uefiFile ?? "")
        note("iPXE boot file", old.boot.ipxeFile ?? "", new.boot.ipxeFile ?? "")
        return changes
    }

    private static func routes(_ settings: DHCPSettings) -> String {
        settings.classlessRoutes.map { "\($0.destination)/\($0.prefixLength) via \($0.router)" }.joined(separator: ", ")
    }
}
