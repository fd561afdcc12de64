import Foundation
import Packets

/// Lease actions of the DHCP Server page and `vnetd leases`.
extension DHCPService {
    /// The stored leases with the VM adapter that holds each, lowest address first.
    public func leaseListing(of network: NetworkID) throws -> [LeaseListing] {
        try store.read { db in
            guard try db.network(network) != nil else { throw NotFound("No such virtual network.") }
            return try db.leases(of: network).map { lease in
                let holder = try db.nic(using: lease.mac)
                return LeaseListing(lease: lease, vmName: holder?.vmName, adapter: holder?.nic.label)
            }
        }
    }

    /// Ends a lease now: the store marks it expired in the same transaction as the event, then
    /// the running server forgets the binding (its client is refused at its next renewal).
    public func releaseLease(of network: NetworkID, address: IPv4Address) throws {
        let now = clock.now()
        try store.write { db in
            guard let owner = try db.network(network) else { throw NotFound("No such virtual network.") }
            guard let lease = try db.leases(of: network).first(where: { $0.address == address }), lease.expires > now,
                  try db.expireLease(of: network, address: address, at: now) != nil
            else { throw NotFound("No such lease.") }
            try db.append(Event(time: now, kind: .leaseReleased, subject: .network(owner),
                                message: "Released the lease of \(address) held by \(lease.mac) on “\(owner.name)”."))
        }
        dataplane.apply(.leaseReleased(network, address))
    }

    /// Reserves a leased address for the adapter that holds it, under the host name it sent
    /// when that is a valid host name.
    @discardableResult
    public func reserveLease(of network: NetworkID, version: Int, address: IPv4Address) throws -> DHCPSettings {
        let lease = try store.read { db in try db.leases(of: network).first { $0.address == address } }
        guard let lease else { throw NotFound("No such lease.") }
        let name = DHCPRules.normalizedHostName(lease.hostName ?? "")
        let settings = try settings(of: network)
        let nameIsValid = DHCPRules.reservationProblems(mac: lease.mac, address: lease.address, hostName: name, in: settings, besides: [])
            .allSatisfy { $0.field != "reservationHostName" }
        return try addReservation(to: network, version: version, mac: lease.mac.description, address: address.description, hostName: nameIsValid ? name : "")
    }
}

/// A lease as listed: with the VM and adapter holding its MAC, when one does.
public struct LeaseListing: Sendable, Equatable {
    public var lease: DHCPLease
    public var vmName: String?
    public var adapter: String?

    public init(lease: DHCPLease, vmName: String?, adapter: String?) {
        self.lease = lease
        self.vmName = vmName
        self.adapter = adapter
    }
}

/// Leases as a table: CSV for the page's download and `vnetd leases --csv`, aligned text for
/// the terminal.
public enum LeaseTable {
    public static let header = ["address", "mac", "host_name", "vm", "adapter", "expires", "state"]

    public static func rows(_ listings: [LeaseListing], now: Date) -> [[String]] {
        listings.map { item in
            [item.lease.address.description, item.lease.mac.description, item.lease.hostName ?? "", item.vmName ?? "", item.adapter ?? "",
             Self.timestamp(item.lease.expires), item.lease.expires > now ? "active" : "expired"]
        }
    }

    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }

    /// RFC 4180: every field quoted when it holds a comma, quote or line break, quotes doubled,
    /// CRLF line ends. A cell a spreadsheet would run as a formula (starting with = + - @, a
    /// tab or CR) gets a leading apostrophe: host names are chosen by guests.
    public static func csv(_ listings: [LeaseListing], now: Date) -> String {
        ([header] + rows(listings, now: now)).map { $0.map(csvField).joined(separator: ",") }.joined(separator: "\r\n") + "\r\n"
    }

    static func csvField(_ value: String) -> String {
        var cell = value
        if let first = cell.unicodeScalars.first, ["=", "+", "-", "@", "\t", "\r"].contains(first) { cell = "'" + cell }
        guard cell.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return cell }
        return "\"" + cell.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Columns padded to their widest cell; control characters shown as "?", so a guest's
    /// host name cannot move the terminal's cursor.
    public static func text(_ listings: [LeaseListing], now: Date) -> String {
        let table = [header.map { $0.uppercased() }] + rows(listings, now: now).map { $0.map(printable) }
        let widths = header.indices.map { column in table.map { $0[column].count }.max() ?? 0 }
        return table.map { row in
            row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces)
        }.joined(separator: "\n") + "\n"
    }

    static func printable(_ value: String) -> String {
        String(String.UnicodeScalarView(value.unicodeScalars.map { $0.properties.generalCategory == .control || $0.properties.generalCategory == .format ? "?" : $0 }))
    }
}
