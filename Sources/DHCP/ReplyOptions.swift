import Packets

/// The options an OFFER or ACK carries, and their encodings.
///
/// Policy (RFC 2132 §9.8 and what clients do): with a parameter request list, the asked-for
/// options that are configured go out in the client's order, and the router and DNS servers go
/// out whenever they are set (some clients leave them out of their list and still use them),
/// as does a reservation's host name;
/// a client with no list gets every configured option. The subnet mask always goes out.
enum ReplyOptions {
    static func values(_ configuration: DHCPConfiguration, hostName: String?) -> [DHCPOptionCode: [UInt8]] {
        var values: [DHCPOptionCode: [UInt8]] = [.subnetMask: configuration.mask.octets]
        if let gateway = configuration.gateway { values[.router] = gateway.octets }
        if !configuration.dnsServers.isEmpty { values[.domainNameServer] = configuration.dnsServers.flatMap(\.octets) }
        if let hostName, !hostName.isEmpty { values[.hostName] = Array(hostName.utf8) }
        if let domain = configuration.domainName, !domain.isEmpty { values[.domainName] = Array(domain.utf8) }
        if let mtu = configuration.mtu { values[.interfaceMTU] = [UInt8(mtu >> 8), UInt8(truncatingIfNeeded: mtu)] }
        if !configuration.ntpServers.isEmpty { values[.ntpServers] = configuration.ntpServers.flatMap(\.octets) }
        if !configuration.winsServers.isEmpty { values[.netbiosNameServer] = configuration.winsServers.flatMap(\.octets) }
        if !configuration.searchDomains.isEmpty, let encoded = searchList(configuration.searchDomains) { values[.domainSearch] = encoded }
        if !configuration.classlessRoutes.isEmpty {
            let encoded = classlessRoutes(configuration.classlessRoutes)
            values[.classlessStaticRoute] = encoded
            values[.microsoftClasslessStaticRoute] = encoded
        }
        return values
    }

    /// The order options go out in: the client's list first, then (without a list) the rest in
    /// code order; router, DNS servers and a reserved host name always.
    static func order(asked: [DHCPOptionCode], available: [DHCPOptionCode: [UInt8]]) -> [DHCPOptionCode] {
        var order: [DHCPOptionCode] = [.subnetMask]
        var seen: Set<DHCPOptionCode> = [.subnetMask]
        let candidates = asked.isEmpty ? available.keys.sorted() : asked + [.router, .domainNameServer, .hostName]
        for code in candidates where available[code] != nil && !seen.contains(code) {
            order.append(code)
            seen.insert(code)
        }
        return order
    }

    /// RFC 3442: each route is the prefix length, the significant octets of the destination,
    /// then the router.
    static func classlessRoutes(_ routes: [DHCPConfiguration.ClasslessRoute]) -> [UInt8] {
        var bytes: [UInt8] = []
        for route in routes {
            let length = min(32, max(0, route.prefixLength))
            bytes.append(UInt8(length))
            bytes += route.destination.octets.prefix((length + 7) / 8)
            bytes += route.router.octets
        }
        return bytes
    }

    /// RFC 3397: the names in DNS wire format, without compression (every client must read
    /// uncompressed names). Nil when a name has a label no DNS name may have.
    static func searchList(_ names: [String]) -> [UInt8]? {
        var bytes: [UInt8] = []
        for name in names {
            for label in name.split(separator: ".", omittingEmptySubsequences: true) {
                let utf8 = Array(label.utf8)
                guard !utf8.isEmpty, utf8.count <= 63 else { return nil }
                bytes.append(UInt8(utf8.count))
                bytes += utf8
            }
            bytes.append(0)
        }
        return bytes
    }

    /// What a booting client is told: for iPXE its own file (so it does not chain-load itself
    /// again), for a PXE ROM the BIOS or UEFI file by option 93; nil when there is none for it.
    static func bootFile(_ boot: DHCPConfiguration.NetworkBoot?, for request: DHCPMessage) -> String? {
        guard let boot else { return nil }
        if request.isIPXE, let file = boot.ipxeFile, !file.isEmpty { return file }
        // No option 93: not a PXE ROM (an operating system's client), so no boot file.
        guard let architecture = request.clientArchitecture else { return nil }
        // RFC 4578 §2.1 and IANA: 0 is x86 BIOS; 6, 7, 9, 10, 11 are EFI variants.
        let file = architecture == 0 ? boot.biosFile : boot.uefiFile
        return file.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// T1 and T2 moved earlier by up to 1/16 of themselves, by a hash of the client and the
    /// transaction: VMs started together do not all renew in the same second, and the same
    /// request always gets the same times (RFC 2131 §4.4.5 asks for such a fuzz).
    static func jittered(_ configuration: DHCPConfiguration, client: [UInt8], transaction: UInt32) -> (renewal: UInt32, rebinding: UInt32) {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in client + withUnsafeBytes(of: transaction.bigEndian, Array.init) {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        let t1 = configuration.renewalTime, t2 = configuration.rebindingTime
        let j1 = UInt32(hash % UInt64(t1 / 16 + 1))
        let j2 = UInt32((hash >> 32) % UInt64(max(1, (t2 - min(t2, t1)) / 16)))
        return (t1 - j1, t2 - j2)
    }
}
