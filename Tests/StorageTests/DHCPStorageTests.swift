import Domain
import Foundation
import Packets
import Testing
import TestSupport
@testable import Storage

@Suite("DHCP settings and leases in SQLite")
struct DHCPStorageTests {
    static let lab = NetworkID(rawValue: "5f0c2a8e-1b2c-4d3e-8f40-0000000000aa")

    func withStore(_ body: (SQLiteInventoryStore, String) throws -> Void) throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let database = try VnetdDatabase(directory: folder.path)
        defer { try? database.close() }
        let store = SQLiteInventoryStore(database: database)
        try store.write { db in
            try db.insert(VirtualNetwork(id: Self.lab, name: "Lab", kind: .guestOnly, notes: "", createdAt: Date(timeIntervalSince1970: 0), changedAt: Date(timeIntervalSince1970: 0)))
        }
        try body(store, folder.path)
    }

    @Test func everyOptionIsStoredAndReadBackAfterReopening() throws {
        var settings = DHCPSettings.defaults(for: IPv4Address(192, 168, 50, 0))
        settings.domainName = "lab.example"
        settings.searchDomains = ["lab.example", "example.org"]
        settings.classlessRoutes = [DHCPRoute(destination: IPv4Address(10, 20, 0, 0), prefixLength: 16, router: IPv4Address(192, 168, 50, 254)),
                                    DHCPRoute(destination: .any, prefixLength: 0, router: IPv4Address(192, 168, 50, 2))]
        settings.mtu = 9000
        settings.ntpServers = [IPv4Address(192, 168, 50, 3), IPv4Address(192, 168, 50, 4)]
        settings.boot = DHCPBoot(nextServer: IPv4Address(192, 168, 50, 5), biosFile: "pxelinux.0", uefiFile: "EFI/grubx64.efi", ipxeFile: "http://boot.example/x.ipxe?a=1,b=2")
        settings.version = 1
        try withStore { store, path in
            try store.write { try $0.save(settings, for: Self.lab) }
            let database = try VnetdDatabase(directory: path)
            defer { try? database.close() }
            #expect(try SQLiteInventoryStore(database: database).read { try $0.dhcpSettings(of: Self.lab) } == settings)
            settings.boot = DHCPBoot()
            settings.mtu = nil
            settings.domainName = nil
            try store.write { try $0.save(settings, for: Self.lab) }
            #expect(try store.read { try $0.dhcpSettings(of: Self.lab) } == settings, "cleared options stay cleared")
        }
    }

    @Test func theSchemaRefusesAnMTUOrBootFileNoOptionCanCarry() throws {
        try withStore { store, _ in
            var settings = DHCPSettings.defaults(for: IPv4Address(192, 168, 50, 0))
            settings.mtu = 67
            #expect(throws: ValidationFailure.self) { try store.write { try $0.save(settings, for: Self.lab) } }
            settings.mtu = nil
            settings.boot.biosFile = String(repeating: "é", count: 64)
            #expect(throws: ValidationFailure.self) { try store.write { try $0.save(settings, for: Self.lab) } }
        }
    }

    @Test func anExpiredLeaseStaysStoredWithItsNewExpiry() throws {
        try withStore { store, _ in
            let lease = DHCPLease(network: Self.lab, address: IPv4Address(192, 168, 50, 16), mac: MACAddress(value: 0x0003FF000007),
                                  clientID: [1], hostName: "web", expires: Date(timeIntervalSince1970: 10_000))
            try store.write { try $0.save(DHCPSettings.defaults(for: IPv4Address(192, 168, 50, 0)), for: Self.lab) }
            try SQLiteLeaseStoreAccess.insert(lease, into: store)
            let now = Date(timeIntervalSince1970: 500)
            let ended = try store.write { try $0.expireLease(of: Self.lab, address: lease.address, at: now) }
            #expect(ended?.expires == now)
            #expect(try store.read { try $0.leases(of: Self.lab) }.map(\.expires) == [now])
            #expect(try store.write { try $0.expireLease(of: Self.lab, address: IPv4Address(192, 168, 50, 17), at: now) } == nil)
        }
    }

    @Test func heldAddressesAreKeptUntilTheirTimeAndGoWithTheirNetwork() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let database = try VnetdDatabase(directory: folder.path)
        defer { try? database.close() }
        let store = SQLiteInventoryStore(database: database)
        try store.write { db in
            try db.insert(VirtualNetwork(id: Self.lab, name: "Lab", kind: .guestOnly, notes: "", createdAt: Date(timeIntervalSince1970: 0), changedAt: Date(timeIntervalSince1970: 0)))
        }
        let leases = SQLiteLeaseStore(database: database)
        let soon = Date().addingTimeInterval(600), over = Date().addingTimeInterval(-60)
        try leases.save([.held(Self.lab, IPv4Address(192, 168, 50, 16), until: soon), .held(Self.lab, IPv4Address(192, 168, 50, 17), until: over)])
        let held = try leases.holds(of: Self.lab, now: Date())
        #expect(held.map(\.address) == [IPv4Address(192, 168, 50, 16)], "a hold that ended is not read back")
        #expect(held.first.map { abs($0.until.timeIntervalSince(soon)) < 0.01 } == true)
        // A longer hold on the same address replaces the shorter one.
        try leases.save([.held(Self.lab, IPv4Address(192, 168, 50, 16), until: soon.addingTimeInterval(600))])
        #expect(try leases.holds(of: Self.lab, now: soon).count == 1)
        try store.write { try $0.delete(Self.lab) }
        #expect(try leases.holds(of: Self.lab, now: Date()).isEmpty, "removed with its network")
    }
}

/// Puts a lease in the table the way the dataplane's store does.
enum SQLiteLeaseStoreAccess {
    static func insert(_ lease: DHCPLease, into store: SQLiteInventoryStore) throws {
        try store.write { db in
            guard let access = db as? SQLiteInventoryAccess else { return }
            try access.db.execute(sql: """
                INSERT INTO dhcp_lease (network_id, address, mac, client_id, host_name, expires_at) VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [lease.network.rawValue, lease.address.description, lease.mac.description, Data(lease.clientID),
                                 lease.hostName, SQLiteInventoryAccess.milliseconds(lease.expires)])
        }
    }
}
