import GRDB

/// The schema, as an append-only list. A migration that has shipped is never edited: changes
/// come as a new migration at the end. Invariants live in the schema itself (CHECK, UNIQUE,
/// foreign keys), so no code path can store what the domain forbids.
enum Migrations {
    static let migrator: DatabaseMigrator = {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-event-log") { db in
            try db.execute(sql: """
                CREATE TABLE event (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    occurred_at INTEGER NOT NULL,            -- milliseconds since 1970, UTC
                    kind TEXT NOT NULL,
                    subject_kind TEXT NOT NULL,
                    subject_id TEXT,
                    subject_name TEXT NOT NULL,
                    message TEXT NOT NULL
                );
                CREATE INDEX event_by_time ON event(occurred_at DESC, id DESC);
                """)
        }
        migrator.registerMigration("v2-inventory") { db in
            try db.execute(sql: """
                CREATE TABLE host_adapter (
                    name TEXT PRIMARY KEY NOT NULL CHECK (length(name) BETWEEN 1 AND 15),
                    mac TEXT,                                -- last address seen
                    is_bound INTEGER NOT NULL DEFAULT 0 CHECK (is_bound IN (0, 1)),
                    changed_at INTEGER NOT NULL
                );
                CREATE TABLE network (
                    id TEXT PRIMARY KEY NOT NULL,
                    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 256),
                    name_key TEXT NOT NULL UNIQUE,           -- the name folded: unique ignoring case
                    adapter_name TEXT REFERENCES host_adapter(name) ON DELETE RESTRICT,  -- NULL: guest only
                    notes TEXT NOT NULL DEFAULT '',
                    created_at INTEGER NOT NULL,
                    changed_at INTEGER NOT NULL,
                    version INTEGER NOT NULL DEFAULT 1
                );
                CREATE INDEX network_by_adapter ON network(adapter_name);
                CREATE TABLE vm (
                    id TEXT PRIMARY KEY NOT NULL,
                    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 256),
                    name_key TEXT NOT NULL UNIQUE,
                    notes TEXT NOT NULL DEFAULT '',
                    created_at INTEGER NOT NULL,
                    changed_at INTEGER NOT NULL,
                    version INTEGER NOT NULL DEFAULT 1
                );
                CREATE TABLE nic (
                    id TEXT PRIMARY KEY NOT NULL,
                    vm_id TEXT NOT NULL REFERENCES vm(id) ON DELETE CASCADE,
                    slot INTEGER NOT NULL CHECK (slot BETWEEN 1 AND 4),
                    network_id TEXT REFERENCES network(id) ON DELETE SET NULL,
                    mac TEXT NOT NULL UNIQUE,                -- canonical form, 00:03:ff:12:34:56
                    mac_is_static INTEGER NOT NULL DEFAULT 0 CHECK (mac_is_static IN (0, 1)),
                    backend TEXT NOT NULL DEFAULT 'socket',
                    UNIQUE (vm_id, slot)
                );
                CREATE INDEX nic_by_network ON nic(network_id);
                """)
        }
        migrator.registerMigration("v3-dhcp") { db in
            try db.execute(sql: """
                CREATE TABLE dhcp_settings (
                    network_id TEXT PRIMARY KEY NOT NULL REFERENCES network(id) ON DELETE CASCADE,
                    enabled INTEGER NOT NULL CHECK (enabled IN (0, 1)),
                    network TEXT NOT NULL, mask TEXT NOT NULL,
                    range_start TEXT NOT NULL, range_end TEXT NOT NULL, server TEXT NOT NULL,
                    gateway TEXT, dns TEXT NOT NULL DEFAULT '', wins TEXT NOT NULL DEFAULT '',
                    lease_time INTEGER NOT NULL CHECK (lease_time >= 60),
                    renewal_time INTEGER NOT NULL CHECK (renewal_time >= 30),
                    rebinding_time INTEGER NOT NULL CHECK (rebinding_time >= 45),
                    version INTEGER NOT NULL,
                    CHECK (renewal_time < rebinding_time AND rebinding_time < lease_time)
                );
                CREATE TABLE dhcp_reservation (
                    network_id TEXT NOT NULL REFERENCES network(id) ON DELETE CASCADE,
                    mac TEXT NOT NULL, address TEXT NOT NULL, host_name TEXT NOT NULL DEFAULT '',
                    PRIMARY KEY (network_id, mac), UNIQUE (network_id, address)
                );
                CREATE TABLE dhcp_lease (
                    network_id TEXT NOT NULL REFERENCES network(id) ON DELETE CASCADE,
                    address TEXT NOT NULL, mac TEXT NOT NULL, client_id BLOB NOT NULL, host_name TEXT,
                    expires_at INTEGER NOT NULL,                -- milliseconds since 1970
                    PRIMARY KEY (network_id, address)
                );
                CREATE INDEX dhcp_lease_by_mac ON dhcp_lease(mac);
                """)
        }
        migrator.registerMigration("v4-administrators") { db in
            try db.execute(sql: """
                CREATE TABLE administrator (
                    name TEXT PRIMARY KEY NOT NULL CHECK (length(name) BETWEEN 1 AND 32),
                    name_key TEXT NOT NULL UNIQUE,            -- the name lower-cased: unique ignoring case
                    password_hash TEXT NOT NULL CHECK (length(password_hash) > 0),
                    created_at INTEGER NOT NULL,
                    changed_at INTEGER NOT NULL
                );
                ALTER TABLE event ADD COLUMN actor TEXT;     -- the administrator who made the change; NULL: vnetd
                """)
        }
        migrator.registerMigration("v5-mac-spoofing") { db in
            try db.execute(sql: """
                ALTER TABLE nic ADD COLUMN allows_mac_spoofing INTEGER NOT NULL DEFAULT 0 CHECK (allows_mac_spoofing IN (0, 1));
                """)
        }
        migrator.registerMigration("v6-dhcp-options") { db in
            // Lists are comma-separated; a route is "10.20.0.0/16 via 192.168.50.254".
            try db.execute(sql: """
                ALTER TABLE dhcp_settings ADD COLUMN domain_name TEXT CHECK (domain_name IS NULL OR length(domain_name) BETWEEN 1 AND 253);
                ALTER TABLE dhcp_settings ADD COLUMN search_domains TEXT NOT NULL DEFAULT '';
                ALTER TABLE dhcp_settings ADD COLUMN classless_routes TEXT NOT NULL DEFAULT '';
                ALTER TABLE dhcp_settings ADD COLUMN mtu INTEGER CHECK (mtu IS NULL OR mtu BETWEEN 68 AND 65535);
                ALTER TABLE dhcp_settings ADD COLUMN ntp TEXT NOT NULL DEFAULT '';
                ALTER TABLE dhcp_settings ADD COLUMN next_server TEXT;
                ALTER TABLE dhcp_settings ADD COLUMN boot_file_bios TEXT CHECK (boot_file_bios IS NULL OR length(CAST(boot_file_bios AS BLOB)) BETWEEN 1 AND 127);
                ALTER TABLE dhcp_settings ADD COLUMN boot_file_uefi TEXT CHECK (boot_file_uefi IS NULL OR length(CAST(boot_file_uefi AS BLOB)) BETWEEN 1 AND 127);
                ALTER TABLE dhcp_settings ADD COLUMN boot_file_ipxe TEXT CHECK (boot_file_ipxe IS NULL OR length(CAST(boot_file_ipxe AS BLOB)) BETWEEN 1 AND 255);
                """)
        }
        migrator.registerMigration("v7-dhcp-holds") { db in
            try db.execute(sql: """
                CREATE TABLE dhcp_hold (
                    network_id TEXT NOT NULL REFERENCES network(id) ON DELETE CASCADE,
                    address TEXT NOT NULL,
                    until INTEGER NOT NULL,
                    PRIMARY KEY (network_id, address)
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v8-host-networks") { db in
            // kind: 'guest' | 'external' (adapter_name set) | 'host' | 'nat' (nat_outbound: NULL = default route).
            try db.execute(sql: """
                ALTER TABLE network ADD COLUMN kind TEXT NOT NULL DEFAULT 'guest' CHECK (kind IN ('guest', 'external', 'host', 'nat'));
                UPDATE network SET kind = 'external' WHERE adapter_name IS NOT NULL;
                ALTER TABLE network ADD COLUMN nat_outbound TEXT CHECK (nat_outbound IS NULL OR length(nat_outbound) BETWEEN 1 AND 15);
                ALTER TABLE network ADD COLUMN host_address TEXT;       -- NULL: the DHCP scope's first host address
                ALTER TABLE network ADD COLUMN ipv6_prefix TEXT;        -- a /64, 'fd12:3456:789a:1::/64'; NULL: no IPv6
                CREATE TABLE port_forward (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    network_id TEXT NOT NULL REFERENCES network(id) ON DELETE CASCADE,
                    proto TEXT NOT NULL CHECK (proto IN ('tcp', 'udp')),
                    host_address TEXT,                                  -- NULL: every address of the host
                    host_port INTEGER NOT NULL CHECK (host_port BETWEEN 1 AND 65535),
                    mac TEXT NOT NULL,                                  -- the VM's NIC; its address follows its lease
                    guest_port INTEGER NOT NULL CHECK (guest_port BETWEEN 1 AND 65535),
                    UNIQUE (proto, host_port, host_address)
                );
                CREATE INDEX port_forward_by_network ON port_forward(network_id);
                """)
        }
        migrator.registerMigration("v9-storm-control") { db in
            // Per-port limits of a network, frames per second; NULL: no limit. No row: off.
            try db.execute(sql: """
                CREATE TABLE storm_control (
                    network_id TEXT NOT NULL PRIMARY KEY REFERENCES network(id) ON DELETE CASCADE,
                    broadcast INTEGER CHECK (broadcast IS NULL OR broadcast BETWEEN 1 AND 10000000),
                    multicast INTEGER CHECK (multicast IS NULL OR multicast BETWEEN 1 AND 10000000),
                    unknown_unicast INTEGER CHECK (unknown_unicast IS NULL OR unknown_unicast BETWEEN 1 AND 10000000)
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v10-metrics-tokens") { db in
            // Bearer tokens for GET /metrics: only a SHA-256 of each is kept (the token is shown once).
            try db.execute(sql: """
                CREATE TABLE metrics_token (
                    name TEXT NOT NULL PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 64),
                    token_hash TEXT NOT NULL UNIQUE CHECK (length(token_hash) = 71 AND token_hash LIKE 'sha256:%'),
                    created_at INTEGER NOT NULL
                ) WITHOUT ROWID;
                """)
        }
        return migrator
    }()

    static let order: [String: Int] = Dictionary(
        uniqueKeysWithValues: migrator.migrations.enumerated().map { ($1, $0) })
}
