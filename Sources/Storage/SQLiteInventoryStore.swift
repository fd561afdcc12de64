import Domain
import Foundation
import GRDB
import Packets

/// The inventory in SQLite. `write` is one GRDB write transaction: SQLite serialises writers, so
/// rules a service checks inside it hold at commit. A constraint the schema still catches (two
/// writers racing through different processes, say) becomes the matching `ValidationFailure`.
public struct SQLiteInventoryStore: InventoryStore {
    private let database: VnetdDatabase

    public init(database: VnetdDatabase) {
        self.database = database
    }

    public func read<T>(_ body: (any InventoryReader) throws -> T) throws -> T {
        try database.writer.read { db in try body(SQLiteInventoryAccess(db: db)) }
    }

    public func write<T>(_ body: (any InventoryWriter) throws -> T) throws -> T {
        do {
            return try database.write(refusing: .change) { db in try body(SQLiteInventoryAccess(db: db)) }
        } catch let error as DatabaseError {
            throw ConstraintMapping.failure(for: error) ?? error
        }
    }
}

enum ConstraintMapping {
    /// The domain's word for a constraint violation, or nil when the error is something else.
    static func failure(for error: DatabaseError) -> ValidationFailure? {
        let message = error.message ?? ""
        if error.resultCode == .SQLITE_FULL {
            return ValidationFailure(.storageFull, """
                Not saved: the disk that holds vnetd's data folder is full. Nothing was changed. \
                Free some space on it and submit the form again.
                """)
        }
        switch error.extendedResultCode {
        case .SQLITE_CONSTRAINT_UNIQUE, .SQLITE_CONSTRAINT_PRIMARYKEY:
            if message.contains("network.name_key") {
                return ValidationFailure(.nameTaken, field: "name", "A network with this name already exists. Network names must differ in more than case.")
            }
            if message.contains("vm.name_key") {
                return ValidationFailure(.nameTaken, field: "name", "A virtual machine with this name already exists. Names must differ in more than case.")
            }
            if message.contains("nic.mac") {
                return ValidationFailure(.macInUse, "That MAC address was taken by another network adapter meanwhile. Choose another.")
            }
            return ValidationFailure(.staleEdit, "Someone else made the same change at the same moment. Reload the page and try again.")
        case .SQLITE_CONSTRAINT_FOREIGNKEY:
            return ValidationFailure(.staleEdit, "Something this change refers to was removed meanwhile. Reload the page and try again.")
        case .SQLITE_CONSTRAINT_CHECK, .SQLITE_CONSTRAINT_NOTNULL:
            return ValidationFailure(.definitionInvalid, "The change was refused by the database's rules (\(message)).")
        default:
            return nil
        }
    }
}

/// Reads and writes inside one GRDB database access.
struct SQLiteInventoryAccess: InventoryWriter {
    let db: GRDB.Database

    // MARK: networks

    func network(_ id: NetworkID) throws -> VirtualNetwork? {
        try Row.fetchOne(db, sql: "SELECT * FROM network WHERE id = ?", arguments: [id.rawValue]).map(Self.network)
    }

    func network(nameKey: String) throws -> VirtualNetwork? {
        try Row.fetchOne(db, sql: "SELECT * FROM network WHERE name_key = ?", arguments: [nameKey]).map(Self.network)
    }

    func networkCount() throws -> Int {
        try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM network") ?? 0
    }

    func networks(offset: Int, limit: Int) throws -> [NetworkListing] {
        try Row.fetchAll(db, sql: """
            SELECT network.*, (SELECT COUNT(*) FROM nic WHERE nic.network_id = network.id) AS connected
            FROM network ORDER BY name_key, id LIMIT ? OFFSET ?
            """, arguments: [limit, offset]).map { NetworkListing(network: Self.network($0), connectedNICs: $0["connected"]) }
    }

    func allNetworks() throws -> [VirtualNetwork] {
        try Row.fetchAll(db, sql: "SELECT * FROM network ORDER BY name_key, id").map(Self.network)
    }

    func networks(usingAdapter name: String) throws -> [VirtualNetwork] {
        try Row.fetchAll(db, sql: "SELECT * FROM network WHERE adapter_name = ? ORDER BY name_key", arguments: [name]).map(Self.network)
    }

    func insert(_ network: VirtualNetwork) throws {
        if let adapter = network.kind.adapterName { try ensureAdapterRow(adapter) }
        try db.execute(sql: """
            INSERT INTO network (id, name, name_key, adapter_name, notes, created_at, changed_at, version, kind, nat_outbound, host_address, ipv6_prefix)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [
                network.id.rawValue, network.name, NameRules.uniquenessKey(network.name), network.kind.adapterName,
                network.notes, Self.milliseconds(network.createdAt), Self.milliseconds(network.changedAt), network.version,
                Self.kindColumn(network.kind), network.kind.natOutbound, network.hostInterface.address?.description,
                network.hostInterface.ipv6Prefix?.description,
            ])
    }

    func update(_ network: VirtualNetwork) throws -> Bool {
        if let adapter = network.kind.adapterName { try ensureAdapterRow(adapter) }
        try db.execute(sql: """
            UPDATE network SET name = ?, name_key = ?, adapter_name = ?, notes = ?, changed_at = ?, version = ?,
                kind = ?, nat_outbound = ?, host_address = ?, ipv6_prefix = ?
            WHERE id = ? AND version = ?
            """, arguments: [
                network.name, NameRules.uniquenessKey(network.name), network.kind.adapterName, network.notes,
                Self.milliseconds(network.changedAt), network.version,
                Self.kindColumn(network.kind), network.kind.natOutbound, network.hostInterface.address?.description,
                network.hostInterface.ipv6Prefix?.description,
                network.id.rawValue, network.version - 1,
            ])
        return db.changesCount == 1
    }

    func delete(_ network: NetworkID) throws {
        try db.execute(sql: "DELETE FROM network WHERE id = ?", arguments: [network.rawValue])
    }

    // MARK: virtual machines

    func vm(_ id: VMID) throws -> VirtualMachine? {
        try Row.fetchOne(db, sql: "SELECT * FROM vm WHERE id = ?", arguments: [id.rawValue]).map(Self.vm)
    }

    func vm(nameKey: String) throws -> VirtualMachine? {
        try Row.fetchOne(db, sql: "SELECT * FROM vm WHERE name_key = ?", arguments: [nameKey]).map(Self.vm)
    }

    func vmCount() throws -> Int {
        try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM vm") ?? 0
    }

    func vms(offset: Int, limit: Int) throws -> [VMListing] {
        try Row.fetchAll(db, sql: """
            SELECT vm.*,
                   (SELECT COUNT(*) FROM nic WHERE nic.vm_id = vm.id) AS nics,
                   (SELECT COUNT(*) FROM nic WHERE nic.vm_id = vm.id AND nic.network_id IS NOT NULL) AS connected
            FROM vm ORDER BY name_key, id LIMIT ? OFFSET ?
            """, arguments: [limit, offset]).map { VMListing(vm: Self.vm($0), nics: $0["nics"], connectedNICs: $0["connected"]) }
    }

    func insert(_ vm: VirtualMachine) throws {
        try db.execute(sql: """
            INSERT INTO vm (id, name, name_key, notes, created_at, changed_at, version) VALUES (?, ?, ?, ?, ?, ?, ?)
            """, arguments: [
                vm.id.rawValue, vm.name, NameRules.uniquenessKey(vm.name), vm.notes,
                Self.milliseconds(vm.createdAt), Self.milliseconds(vm.changedAt), vm.version,
            ])
    }

    func update(_ vm: VirtualMachine) throws -> Bool {
        try db.execute(sql: """
            UPDATE vm SET name = ?, name_key = ?, notes = ?, changed_at = ?, version = ? WHERE id = ? AND version = ?
            """, arguments: [
                vm.name, NameRules.uniquenessKey(vm.name), vm.notes, Self.milliseconds(vm.changedAt), vm.version,
                vm.id.rawValue, vm.version - 1,
            ])
        return db.changesCount == 1
    }

    func delete(_ vm: VMID) throws {
        try db.execute(sql: "DELETE FROM vm WHERE id = ?", arguments: [vm.rawValue])
    }

    // MARK: network adapters

    func nic(_ id: NICID) throws -> VirtualNIC? {
        try Row.fetchOne(db, sql: "SELECT * FROM nic WHERE id = ?", arguments: [id.rawValue]).flatMap(Self.nic)
    }

    func nics(of vm: VMID) throws -> [VirtualNIC] {
        try Row.fetchAll(db, sql: "SELECT * FROM nic WHERE vm_id = ? ORDER BY slot", arguments: [vm.rawValue]).compactMap(Self.nic)
    }

    func nics(on network: NetworkID) throws -> [NICListing] {
        try Row.fetchAll(db, sql: """
            SELECT nic.*, vm.name AS vm_name, network.name AS network_name
            FROM nic JOIN vm ON vm.id = nic.vm_id JOIN network ON network.id = nic.network_id
            WHERE nic.network_id = ? ORDER BY vm.name_key, nic.slot
            """, arguments: [network.rawValue]).compactMap(Self.listing)
    }

    func unconnectedNICs() throws -> [NICListing] {
        try Row.fetchAll(db, sql: """
            SELECT nic.*, vm.name AS vm_name, NULL AS network_name
            FROM nic JOIN vm ON vm.id = nic.vm_id
            WHERE nic.network_id IS NULL ORDER BY vm.name_key, nic.slot
            """).compactMap(Self.listing)
    }

    func nic(using mac: MACAddress) throws -> NICListing? {
        try Row.fetchOne(db, sql: """
            SELECT nic.*, vm.name AS vm_name, network.name AS network_name
            FROM nic JOIN vm ON vm.id = nic.vm_id LEFT JOIN network ON network.id = nic.network_id
            WHERE nic.mac = ?
            """, arguments: [mac.description]).flatMap(Self.listing)
    }

    func allNICs() throws -> [VirtualNIC] {
        try Row.fetchAll(db, sql: "SELECT * FROM nic ORDER BY vm_id, slot").compactMap(Self.nic)
    }

    func insert(_ nic: VirtualNIC) throws {
        try db.execute(sql: """
            INSERT INTO nic (id, vm_id, slot, network_id, mac, mac_is_static, backend, allows_mac_spoofing) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [
                nic.id.rawValue, nic.vmID.rawValue, nic.slot, nic.networkID?.rawValue, nic.mac.description,
                nic.assignment == .static, nic.backend.rawValue, nic.allowsMACSpoofing,
            ])
    }

    func update(_ nic: VirtualNIC) throws {
        try db.execute(sql: """
            UPDATE nic SET network_id = ?, mac = ?, mac_is_static = ?, backend = ?, allows_mac_spoofing = ? WHERE id = ?
            """, arguments: [nic.networkID?.rawValue, nic.mac.description, nic.assignment == .static, nic.backend.rawValue, nic.allowsMACSpoofing, nic.id.rawValue])
    }

    func delete(_ nic: NICID) throws {
        try db.execute(sql: "DELETE FROM nic WHERE id = ?", arguments: [nic.rawValue])
    }

    // MARK: adapters, events, summary

    func adapterBindings() throws -> [AdapterBinding] {
        try Row.fetchAll(db, sql: "SELECT * FROM host_adapter ORDER BY name").map(Self.binding)
    }

    func adapterBinding(_ name: String) throws -> AdapterBinding? {
        try Row.fetchOne(db, sql: "SELECT * FROM host_adapter WHERE name = ?", arguments: [name]).map(Self.binding)
    }

    func save(_ binding: AdapterBinding) throws {
        try db.execute(sql: """
            INSERT INTO host_adapter (name, mac, is_bound, changed_at) VALUES (?, ?, ?, strftime('%s', 'now') * 1000)
            ON CONFLICT (name) DO UPDATE SET mac = COALESCE(excluded.mac, mac), is_bound = excluded.is_bound, changed_at = excluded.changed_at
            """, arguments: [binding.name, binding.mac?.description, binding.isBound])
    }

    func append(_ event: Event) throws {
        _ = try SQLiteEventLog.insert(event, db)
    }

    func summary() throws -> InventorySummary {
        let row = try Row.fetchOne(db, sql: """
            SELECT (SELECT COUNT(*) FROM network) AS networks,
                   (SELECT COUNT(*) FROM vm) AS vms,
                   (SELECT COUNT(*) FROM nic) AS nics,
                   (SELECT COUNT(*) FROM nic WHERE network_id IS NOT NULL) AS connected
            """)
        return InventorySummary(
            networks: row?["networks"] ?? 0, virtualMachines: row?["vms"] ?? 0,
            nics: row?["nics"] ?? 0, connectedNICs: row?["connected"] ?? 0)
    }

    /// A network may name an adapter only through a row of `host_adapter` (foreign key).
    private func ensureAdapterRow(_ name: String) throws {
        try db.execute(sql: """
            INSERT INTO host_adapter (name, is_bound, changed_at) VALUES (?, 0, strftime('%s', 'now') * 1000)
            ON CONFLICT (name) DO NOTHING
            """, arguments: [name])
    }

    // MARK: row mapping

    static func milliseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1000).rounded())
    }

    static func date(_ milliseconds: Int64) -> Date {
        Date(timeIntervalSince1970: Double(milliseconds) / 1000)
    }

    static func network(_ row: Row) -> VirtualNetwork {
        let adapter: String? = row["adapter_name"]
        let kindText: String = row["kind"]
        let kind: NetworkKind = switch kindText {
        case "host": .host
        case "nat": .nat(outbound: row["nat_outbound"])
        default: adapter.map { .external(adapter: $0) } ?? .guestOnly
        }
        let address: String? = row["host_address"]
        let prefix: String? = row["ipv6_prefix"]
        return VirtualNetwork(
            id: NetworkID(rawValue: row["id"]), name: row["name"], kind: kind,
            notes: row["notes"], createdAt: date(row["created_at"]), changedAt: date(row["changed_at"]), version: row["version"],
            hostInterface: HostInterfaceSettings(address: address.flatMap(IPv4Address.init(parsing:)), ipv6Prefix: prefix.flatMap(IPv6Prefix.init(parsing:))))
    }

    static func kindColumn(_ kind: NetworkKind) -> String {
        switch kind {
        case .guestOnly: "guest"
        case .external: "external"
        case .host: "host"
        case .nat: "nat"
        }
    }

    static func vm(_ row: Row) -> VirtualMachine {
        VirtualMachine(
            id: VMID(rawValue: row["id"]), name: row["name"], notes: row["notes"],
            createdAt: date(row["created_at"]), changedAt: date(row["changed_at"]), version: row["version"])
    }

    static func nic(_ row: Row) -> VirtualNIC? {
        guard let mac = MACAddress(parsing: row["mac"]) else { return nil }
        let network: String? = row["network_id"]
        let isStatic: Bool = row["mac_is_static"]
        return VirtualNIC(
            id: NICID(rawValue: row["id"]), vmID: VMID(rawValue: row["vm_id"]), slot: row["slot"],
            networkID: network.map(NetworkID.init(rawValue:)), assignment: isStatic ? .static : .dynamic, mac: mac,
            backend: NICBackend(rawValue: row["backend"]) ?? .socket, allowsMACSpoofing: row["allows_mac_spoofing"])
    }

    static func listing(_ row: Row) -> NICListing? {
        nic(row).map { NICListing(nic: $0, vmName: row["vm_name"], networkName: row["network_name"]) }
    }

    static func binding(_ row: Row) -> AdapterBinding {
        let mac: String? = row["mac"]
        return AdapterBinding(name: row["name"], mac: mac.flatMap(MACAddress.init(parsing:)), isBound: row["is_bound"])
    }
}
