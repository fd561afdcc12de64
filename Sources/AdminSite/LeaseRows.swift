import Domain
import Foundation

/// Lease rows with the VM and adapter that hold each address, for the DHCP, network and VM pages.
enum LeaseRows {
    /// Leases shown on one page, lowest addresses first.
    static let pageLimit = 500

    static func rows(_ leases: [DHCPLease], store: any InventoryStore, now: Date) throws -> [[String: Any]] {
        try store.read { db in
            try leases.map { lease -> [String: Any] in
                var row: [String: Any] = [
                    "address": lease.address.description, "mac": Labels.mac(lease.mac), "hostName": Formatting.guestText(lease.hostName ?? ""),
                    "expires": Formatting.utc(lease.expires), "expired": lease.expires <= now,
                ]
                if let owner = try db.nic(using: lease.mac) {
                    row["vmID"] = owner.nic.vmID.rawValue
                    row["vmName"] = owner.vmName
                    row["nic"] = owner.nic.label
                }
                return row
            }
        }
    }
}
