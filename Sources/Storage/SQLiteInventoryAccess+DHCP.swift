import Domain
import Foundation
import GRDB
import Packets

/// DHCP settings, reservations and leases in SQLite.
extension SQLiteInventoryAccess {
    func dhcpSettings(of network: NetworkID) throws -> DHCPSettings? {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM dhcp_settings WHERE network_id = ?", arguments: [network.rawValue]) else {
            return nil
        }
        return try Self.settings(row, reservations: reservations(of: network))
    }

    func allDHCPSettings() throws -> [(NetworkID, DHCPSettings)] {
        try Row.fetchAll(db, sql: "SELECT * FROM dhcp_settings").compactMap { row in
            let id = NetworkID(rawValue: row["network_id"])
            return try Self.settings(row, reservations: reservations(of: id)).map { (id, $0) }
        }
    }

    private func reservations(of network: NetworkID) throws -> [DHCPReservation] {
        try Row.fetchAll(db, sql: "SELECT * FROM dhcp_reservation WHERE network_id = ? ORDER BY address", arguments: [network.rawValue]).compactMap { row in
            guard let mac = MACAddress(parsing: row["mac"]), let address = IPv4Address(parsing: row["address"]) else { return nil }
            return DHCPReservation(mac: mac, address: address, hostName: row["host_name"])
        }.sorted { $0.address < $1.address }
    }

    func save(_ settings: DHCPSettings, for network: NetworkID) throws {
        try db.execute(sql: """
            INSERT INTO dhcp_settings (network_id, enabled, network, mask, range_start, range_end, server, gateway, dns, wins,
                                       lease_time, renewal_time, rebinding_time, version, domain_name, search_domains,
                                       classless_routes, mtu, ntp, next_server, boot_file_bios, boot_file_uefi, boot_file_ipxe)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (network_id) DO UPDATE SET enabled = excluded.enabled, network = excluded.network, mask = excluded.mask,
                range_start = excluded.range_start, range_end = excluded.range_end, server = excluded.server,
                gateway = excluded.gateway, dns = excluded.dns, wins = excluded.wins, lease_time = excluded.lease_time,
                renewal_time = excluded.renewal_time, rebinding_time = excluded.rebinding_time, version = excluded.version,
                domain_name = excluded.domain_name, search_domains = excluded.search_domains,
                classless_routes = excluded.classless_routes, mtu = excluded.mtu, ntp = excluded.ntp,
                next_server = excluded.next_server, boot_file_bios = excluded.boot_file_bios,
                boot_file_uefi = excluded.boot_file_uefi, boot_file_ipxe = excluded.boot_file_ipxe
            """, arguments: [
                network.rawValue, settings.isEnabled, settings.network.description, settings.mask.description,
                settings.rangeStart.description, settings.rangeEnd.description, settings.server.description,
                settings.gateway?.description, settings.dnsServers.map(\.description).joined(separator: ","),
                settings.winsServers.map(\.description).joined(separator: ","), settings.leaseTime, settings.renewalTime,
                settings.rebindingTime, settings.version, settings.domainName, settings.searchDomains.joined(separator: ","),
                settings.classlessRoutes.map(\.description).joined(separator: ","), settings.mtu,
                settings.ntpServers.map(\.description).joined(separator: ","), settings.boot.nextServer?.description,
                settings.boot.biosFile, settings.boot.uefiFile, settings.boot.ipxeFile,
            ])
        try db.execute(sql: "DELETE FROM dhcp_reservation WHERE network_id = ?", arguments: [network.rawValue])
        for reservation in settings.reservations {
            try db.execute(sql: "INSERT INTO dhcp_reservation (network_id, mac, address, host_name) VALUES (?, ?, ?, ?)",
                           arguments: [network.rawValue, reservation.mac.description, reservation.address.description, reservation.hostName])
        }
    }

    func leases(of network: NetworkID) throws -> [DHCPLease] {
        try Row.fetchAll(db, sql: "SELECT * FROM dhcp_lease WHERE network_id = ?", arguments: [network.rawValue]).compactMap(Self.lease)
            .sorted { $0.address < $1.address }
    }

    func leases(of mac: MACAddress) throws -> [DHCPLease] {
        try Row.fetchAll(db, sql: "SELECT * FROM dhcp_lease WHERE mac = ?", arguments: [mac.description]).compactMap(Self.lease)
    }

    /// Ends a lease now: it stays in the table, expired, so the same client can ask for its
    /// address again (RFC 2131 §4.3.1). Nil when there is no such lease.
    func expireLease(of network: NetworkID, address: IPv4Address, at time: Date) throws -> DHCPLease? {
        guard var lease = try Row.fetchOne(
            db, sql: "SELECT * FROM dhcp_lease WHERE network_id = ? AND address = ?", arguments: [network.rawValue, address.description]
        ).flatMap(Self.lease) else { return nil }
        lease.expires = min(lease.expires, time)
        try db.execute(sql: "UPDATE dhcp_lease SET expires_at = ? WHERE network_id = ? AND address = ?",
                       arguments: [Self.milliseconds(lease.expires), network.rawValue, address.description])
        return lease
    }

    func deleteLeases(of mac: MACAddress) throws {
        try db.execute(sql: "DELETE FROM dhcp_lease WHERE mac = ?", arguments: [mac.description])
    }

    static func settings(_ row: Row, reservations: [DHCPReservation]) -> DHCPSettings? {
        func address(_ column: String) -> IPv4Address? { (row[column] as String?).flatMap(IPv4Address.init(parsing:)) }
        func list(_ column: String) -> [IPv4Address] {
            (row[column] as String? ?? "").split(separator: ",").compactMap { IPv4Address(parsing: String($0)) }
        }
        func words(_ column: String) -> [String] {
            (row[column] as String? ?? "").split(separator: ",").map(String.init)
        }
        guard let network = address("network"), let mask = address("mask"), let start = address("range_start"),
              let end = address("range_end"), let server = address("server") else { return nil }
        return DHCPSettings(
            isEnabled: row["enabled"], network: network, mask: mask, rangeStart: start, rangeEnd: end, server: server,
            gateway: address("gateway"), dnsServers: list("dns"), winsServers: list("wins"), leaseTime: row["lease_time"],
            renewalTime: row["renewal_time"], rebindingTime: row["rebinding_time"], reservations: reservations, version: row["version"],
            domainName: row["domain_name"], searchDomains: words("search_domains"), classlessRoutes: words("classless_routes").compactMap(route),
            mtu: row["mtu"], ntpServers: list("ntp"),
            boot: DHCPBoot(nextServer: address("next_server"), biosFile: row["boot_file_bios"], uefiFile: row["boot_file_uefi"], ipxeFile: row["boot_file_ipxe"]))
    }

    /// "10.20.0.0/16 via 192.168.50.254", as `DHCPRoute.description` writes it.
    static func route(_ text: String) -> DHCPRoute? {
        let words = text.split(separator: " ")
        guard words.count == 3, words[1] == "via", let router = IPv4Address(parsing: String(words[2])) else { return nil }
        let parts = words[0].split(separator: "/")
        guard parts.count == 2, let destination = IPv4Address(parsing: String(parts[0])), let prefix = Int(parts[1]), (0...32).contains(prefix) else { return nil }
        return DHCPRoute(destination: destination, prefixLength: prefix, router: router)
    }

    static func lease(_ row: Row) -> DHCPLease? {
        guard let address = IPv4Address(parsing: row["address"]), let mac = MACAddress(parsing: row["mac"]) else { return nil }
        let clientID: Data = row["client_id"]
        let expires: Int64 = row["expires_at"]
        return DHCPLease(network: NetworkID(rawValue: row["network_id"]), address: address, mac: mac, clientID: [UInt8](clientID),
                         hostName: row["host_name"], expires: date(expires))
    }
}
