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
        return migrator
    }()

    static let order: [String: Int] = Dictionary(
        uniqueKeysWithValues: migrator.migrations.enumerated().map { ($1, $0) })
}
