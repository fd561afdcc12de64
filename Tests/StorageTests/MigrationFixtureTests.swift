import Domain
import Foundation
import GRDB
import Packets
import Testing
import TestSupport
@testable import Storage

/// Databases as earlier versions of vnetd left them (Fixtures/vN.sqlite: the schema after the
/// first N migrations, with rows each version wrote in its own schema), opened by today's code.
@Suite("Migrations from every earlier schema")
struct MigrationFixtureTests {
    static let fixtures = repositoryRoot + "/Tests/StorageTests/Fixtures"
    static let lab = NetworkID(rawValue: "5f0c2a8e-1b2c-4d3e-8f40-000000000001")
    static let guests = NetworkID(rawValue: "5f0c2a8e-1b2c-4d3e-8f40-000000000002")
    static let web = VMID(rawValue: "6a1d3b9f-2c3d-4e4f-9051-000000000001")

    /// What each schema version wrote, in its own schema, by migration; a fixture vN holds the
    /// rows of the first N migrations. A migration without rows here still gets its fixture.
    static let rowsWritten: [String: String] = Dictionary(
        zip(Migrations.migrator.migrations, rowsByVersion).map { ($0, $1) } + laterRows.map { ($0.migration, $0.rows) },
        uniquingKeysWith: { first, _ in first })

    /// Rows of migrations 1 to 6, in order.
    static let rowsByVersion: [String] = [
        """
        INSERT INTO event (occurred_at, kind, subject_kind, subject_id, subject_name, message)
            VALUES (1800000000000, 'server.started', 'server', NULL, 'vnetd', 'written by v1');
        """,
        """
        INSERT INTO host_adapter (name, mac, is_bound, changed_at) VALUES ('eth0', '52:54:00:aa:bb:01', 1, 1800000001000);
        INSERT INTO network (id, name, name_key, adapter_name, notes, created_at, changed_at, version)
            VALUES ('5f0c2a8e-1b2c-4d3e-8f40-000000000001', 'Lab Réseau', 'lab réseau', 'eth0', 'line 1
        line 2', 1800000001000, 1800000002000, 3);
        INSERT INTO network (id, name, name_key, adapter_name, notes, created_at, changed_at, version)
            VALUES ('5f0c2a8e-1b2c-4d3e-8f40-000000000002', 'Guests', 'guests', NULL, '', 1800000001000, 1800000001000, 1);
        INSERT INTO vm (id, name, name_key, notes, created_at, changed_at, version)
            VALUES ('6a1d3b9f-2c3d-4e4f-9051-000000000001', 'web', 'web', 'frontend', 1800000001000, 1800000001000, 2);
        INSERT INTO nic (id, vm_id, slot, network_id, mac, mac_is_static, backend)
            VALUES ('7b2e4c0a-3d4e-4f50-a162-000000000001', '6a1d3b9f-2c3d-4e4f-9051-000000000001', 1,
                    '5f0c2a8e-1b2c-4d3e-8f40-000000000002', '00:03:ff:00:00:07', 0, 'socket');
        INSERT INTO nic (id, vm_id, slot, network_id, mac, mac_is_static, backend)
            VALUES ('7b2e4c0a-3d4e-4f50-a162-000000000002', '6a1d3b9f-2c3d-4e4f-9051-000000000001', 2,
                    NULL, '02:aa:bb:cc:dd:ee', 1, 'socket');
        """,
        """
        INSERT INTO dhcp_settings (network_id, enabled, network, mask, range_start, range_end, server, gateway, dns, wins,
                                   lease_time, renewal_time, rebinding_time, version)
            VALUES ('5f0c2a8e-1b2c-4d3e-8f40-000000000002', 1, '192.168.131.0', '255.255.255.0', '192.168.131.16',
                    '192.168.131.254', '192.168.131.1', '192.168.131.1', '192.168.131.2,192.168.131.3', '', 86400, 43200, 75600, 2);
        INSERT INTO dhcp_reservation (network_id, mac, address, host_name)
            VALUES ('5f0c2a8e-1b2c-4d3e-8f40-000000000002', '00:03:ff:00:00:09', '192.168.131.50', 'db');
        INSERT INTO dhcp_lease (network_id, address, mac, client_id, host_name, expires_at)
            VALUES ('5f0c2a8e-1b2c-4d3e-8f40-000000000002', '192.168.131.16', '00:03:ff:00:00:07', X'010003ff000007', 'web', 1800086400000);
        """,
        """
        INSERT INTO administrator (name, name_key, password_hash, created_at, changed_at)
            VALUES ('Admin', 'admin', '$y$j9T$fixture$notarealhash', 1800000003000, 1800000003000);
        INSERT INTO event (occurred_at, kind, subject_kind, subject_id, subject_name, message, actor)
            VALUES (1800000004000, 'administrator.added', 'administrator', 'Admin', 'Admin', 'written by v4', 'Admin');
        """,
        """
        UPDATE nic SET allows_mac_spoofing = 1 WHERE id = '7b2e4c0a-3d4e-4f50-a162-000000000002';
        UPDATE dhcp_settings SET version = 3 WHERE network_id = '5f0c2a8e-1b2c-4d3e-8f40-000000000002';
        """,
        """
        UPDATE dhcp_settings SET domain_name = 'guests.example', mtu = 9000, version = 4
            WHERE network_id = '5f0c2a8e-1b2c-4d3e-8f40-000000000002';
        """,
    ]

    /// Rows of later migrations, by name (their position in the list can change while several
    /// are added at once).
    static let laterRows: [(migration: String, rows: String)] = [
        ("v7-dhcp-holds", """
        INSERT INTO dhcp_hold (network_id, address, until)
            VALUES ('5f0c2a8e-1b2c-4d3e-8f40-000000000002', '192.168.131.77', 4102444800000);
        """),
        ("v8-host-networks", """
        INSERT INTO port_forward (network_id, proto, host_address, host_port, mac, guest_port)
            VALUES ('5f0c2a8e-1b2c-4d3e-8f40-000000000002', 'tcp', NULL, 8022, '00:03:ff:00:00:07', 22);
        """),
        ("v9-storm-control", """
        INSERT INTO storm_control (network_id, broadcast, multicast, unknown_unicast)
            VALUES ('5f0c2a8e-1b2c-4d3e-8f40-000000000002', 200, NULL, 1000);
        """),
        ("v10-metrics-tokens", """
        INSERT INTO metrics_token (name, token_hash, created_at)
            VALUES ('prometheus', 'sha256:00000000000000000000000000000000000000000000000000000000000000aa', 1800000005000);
        """),
    ]

    /// Migrations applied in fixture vN: the first N.
    static func applied(in version: Int) -> [String] { Array(Migrations.migrator.migrations.prefix(version)) }

    /// Every earlier schema: 1 to one less than the number of migrations.
    static let earlierVersions = Array(1..<Migrations.migrator.migrations.count)

    /// The fixture generator: rewrites Fixtures/vN.sqlite for every earlier schema, each made by
    /// the real migrations applied one by one, each followed by the rows its version wrote. Run
    /// it when a migration is added, then commit the files: `Tests/StorageTests/write-fixtures`
    /// (or `VNETD_WRITE_STORAGE_FIXTURES=1 swift test --filter MigrationFixtureTests/writeFixtures`).
    /// `VNETD_WRITE_STORAGE_FIXTURES=v8-host-networks` writes only the fixture up to that migration.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["VNETD_WRITE_STORAGE_FIXTURES"] != nil))
    func writeFixtures() throws {
        let migrations = Migrations.migrator.migrations
        let wanted = ProcessInfo.processInfo.environment["VNETD_WRITE_STORAGE_FIXTURES"] ?? "1"
        let versions = wanted == "1" ? Self.earlierVersions : try [#require(migrations.firstIndex(of: wanted), "no migration \(wanted)") + 1]
        for version in versions {
            let path = "\(Self.fixtures)/v\(version).sqlite"
            try? FileManager.default.removeItem(atPath: path)
            let queue = try DatabaseQueue(path: path)
            for migration in migrations.prefix(version) {
                try Migrations.migrator.migrate(queue, upTo: migration)
                if let rows = Self.rowsWritten[migration] {
                    try queue.write { try $0.execute(sql: rows) }
                }
            }
            try queue.writeWithoutTransaction { try $0.execute(sql: "VACUUM") }
            try queue.close()
        }
    }

    /// A data folder holding a copy of fixture vN.
    static func folder(withFixture version: Int) throws -> TemporaryDirectory {
        let folder = try TemporaryDirectory()
        try FileManager.default.copyItem(atPath: "\(fixtures)/v\(version).sqlite", toPath: folder.path + "/" + VnetdDatabase.fileName)
        return folder
    }

    @Test func thereIsAFixtureForEveryEarlierSchema() throws {
        #expect(Set(Self.rowsWritten.keys).isSubset(of: Migrations.migrator.migrations), "rows only for migrations that exist")
        for version in Self.earlierVersions {
            let path = "\(Self.fixtures)/v\(version).sqlite"
            try #require(FileManager.default.fileExists(atPath: path), "v\(version).sqlite: run Tests/StorageTests/write-fixtures and commit it")
            let queue = try DatabaseQueue(path: path)
            defer { try? queue.close() }
            let applied = try queue.read { try Migrations.migrator.appliedIdentifiers($0) }
            #expect(applied == Set(Self.applied(in: version)), "v\(version).sqlite holds the first \(version) migrations (rewrite the fixtures when migrations are reordered)")
        }
    }

    @Test(arguments: earlierVersions)
    func anEarlierDatabaseIsMigratedAndKeepsItsData(version: Int) throws {
        let folder = try Self.folder(withFixture: version)
        defer { folder.remove() }
        let before = try DatabaseQueue(path: folder.path + "/" + VnetdDatabase.fileName)
        #expect(try before.read { try Migrations.migrator.appliedIdentifiers($0) }.count == version, "the fixture is at v\(version)")
        try before.close()

        let database = try VnetdDatabase(directory: folder.path)
        defer { try? database.close() }
        #expect(try database.appliedMigrations() == Migrations.migrator.migrations)
        #expect(try database.integrityCheck() == ["ok"])

        let events = try SQLiteEventLog(database: database).page(offset: 0, limit: 10).events
        #expect(events.map(\.message) == (version >= 4 ? ["written by v4", "written by v1"] : ["written by v1"]))
        #expect(events.last?.time == Date(timeIntervalSince1970: 1_800_000_000))
        #expect(events.last?.actor == nil)
        if version >= 4 { #expect(events.first?.actor == "Admin") }

        let store = SQLiteInventoryStore(database: database)
        let lab = try store.read { try $0.network(Self.lab) }
        let guests = try store.read { try $0.network(Self.guests) }
        let nics = try store.read { try $0.nics(of: Self.web) }
        guard version >= 2 else {
            #expect(lab == nil && nics.isEmpty)
            return
        }
        #expect(lab == VirtualNetwork(
            id: Self.lab, name: "Lab Réseau", kind: .external(adapter: "eth0"), notes: "line 1\nline 2",
            createdAt: Date(timeIntervalSince1970: 1_800_000_001), changedAt: Date(timeIntervalSince1970: 1_800_000_002), version: 3))
        #expect(guests?.kind == .guestOnly)
        #expect(try store.read { try $0.vm(Self.web) }?.notes == "frontend")
        #expect(nics.map(\.slot) == [1, 2])
        #expect(nics.map(\.mac) == [MACAddress(parsing: "00:03:ff:00:00:07"), MACAddress(parsing: "02:aa:bb:cc:dd:ee")])
        #expect(nics.map(\.networkID) == [Self.guests, nil])
        #expect(nics.map(\.allowsMACSpoofing) == [false, version >= 5], "v5's new column starts off")

        let settings = try store.read { try $0.dhcpSettings(of: Self.guests) }
        guard version >= 3 else {
            #expect(settings == nil)
            return
        }
        #expect(settings?.isEnabled == true)
        #expect(settings?.rangeStart == IPv4Address(192, 168, 131, 16))
        #expect(settings?.dnsServers == [IPv4Address(192, 168, 131, 2), IPv4Address(192, 168, 131, 3)])
        #expect(settings?.leaseTime == 86400)
        #expect(settings?.version == (version >= 6 ? 4 : version >= 5 ? 3 : 2))
        // v6's options start empty (no domain, routes, MTU, NTP or network boot); a v6 database keeps its own.
        if version >= 6 {
            #expect(settings?.domainName == "guests.example" && settings?.mtu == 9000 && settings?.boot.isEmpty == true)
        } else {
            #expect(settings?.domainName == nil && settings?.mtu == nil && settings?.boot.isEmpty == true)
        }
        #expect(settings?.searchDomains == [] && settings?.classlessRoutes == [] && settings?.ntpServers == [])
        #expect(settings?.reservations == [DHCPReservation(mac: MACAddress(value: 0x0003FF000009), address: IPv4Address(192, 168, 131, 50), hostName: "db")])
        #expect(try store.read { try $0.leases(of: Self.guests) } == [DHCPLease(
            network: Self.guests, address: IPv4Address(192, 168, 131, 16), mac: MACAddress(value: 0x0003FF000007),
            clientID: [1, 0, 3, 0xff, 0, 0, 7], hostName: "web", expires: Date(timeIntervalSince1970: 1_800_086_400))])

        let administrator = try SQLiteAdministratorStore(database: database).administrator(named: "admin")
        #expect((administrator != nil) == (version >= 4), "found ignoring case from v4 on")
        if version >= 4 { #expect(administrator?.name == "Admin") }

        // Rows of later migrations, by name: each is there exactly when its migration was.
        let applied = Self.applied(in: version)
        let holds = try SQLiteLeaseStore(database: database).holds(of: Self.guests, now: Date(timeIntervalSince1970: 1_800_000_000))
        #expect(holds.count == (applied.contains("v7-dhcp-holds") ? 1 : 0))
        let forwards = try store.read { try $0.allPortForwards() }
        #expect(forwards.map(\.hostPort) == (applied.contains("v8-host-networks") ? [8022] : []))
        let storms = try store.read { try $0.allStormControl() }
        #expect(storms.map(\.0) == (applied.contains("v9-storm-control") ? [Self.guests] : []))
        #expect(storms.map(\.1) == (applied.contains("v9-storm-control") ? [StormControlSettings(broadcast: 200, unknownUnicast: 1000)] : []))
        let tokens = try SQLiteMetricsTokenStore(database: database).list()
        #expect(tokens.map(\.name) == (applied.contains("v10-metrics-tokens") ? ["prometheus"] : []))
    }

    /// A file a newer vnetd migrated must not be opened (and written) by this older code.
    @Test func aDatabaseWithAnUnknownNewerMigrationIsRefusedClearly() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        do {
            let database = try VnetdDatabase(directory: folder.path)
            try database.writeForTests("INSERT INTO grdb_migrations (identifier) VALUES ('v99-from-a-newer-vnetd')")
            try database.close()
        }
        let path = folder.path + "/" + VnetdDatabase.fileName
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect {
            try VnetdDatabase(directory: folder.path)
        } throws: { error in
            String(describing: error).contains("newer")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before, "the newer database is not altered")
        #expect {
            try DatabaseBackup.check(path)
        } throws: { error in
            String(describing: error).contains("written by a newer vnetd")
        }
    }
}
