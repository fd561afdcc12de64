import AdminSite
import ArgumentParser
import Application
import Domain
import Foundation
import Logging
import WebServer

struct Vnetd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vnetd",
        abstract: "Virtual networks for virtual machines, run from a browser.",
        version: vnetdVersion,
        subcommands: [Serve.self, User.self, Token.self, Leases.self, Populate.self, Backup.self, Restore.self],
        defaultSubcommand: Serve.self)
}

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the switching core and the administration website (the default command).")

    @Option(help: ArgumentHelp("Address and port of the administration website.", valueName: "host:port"))
    var listen: String = "127.0.0.1:8080"

    @Option(help: ArgumentHelp(
        "Folder for the database and runtime files; created if missing (default: ./var, or /var/lib/vnetd for an installed vnetd).",
        valueName: "path"))
    var dataDir: String?

    @Option(help: ArgumentHelp("Folder for the QEMU sockets of VM network adapters (default: run inside the data folder).", valueName: "path"))
    var runtimeDir: String?

    @Option(help: ArgumentHelp("Folder of the page templates (default: the repository's Templates).", valueName: "path"))
    var templates: String?

    @Option(name: .customLong("public"), help: ArgumentHelp("Folder of static files served under /static/ (default: the repository's Public).", valueName: "path"))
    var publicFolder: String?

    @Option(help: ArgumentHelp("HTTP worker threads (default: one per processor core).", valueName: "count"))
    var threads: Int = HTTPServerConfiguration.processorCount

    @Option(help: ArgumentHelp("Data path threads: each network and its ports are served by one of them (default: one per processor core).", valueName: "count"))
    var dataplaneThreads: Int?

    @Option(help: ArgumentHelp("Log level: trace, debug, info, notice, warning, error or critical.", valueName: "level"))
    var logLevel: String = "info"

    @Option(help: ArgumentHelp(
        "Serve HTTPS with this certificate (PEM, chain after the server's own). Read at start and again on SIGHUP (after a renewal): new connections get the new one.",
        valueName: "file"))
    var tlsCert: String?

    @Option(help: ArgumentHelp("The certificate's private key (PEM, not encrypted).", valueName: "file"))
    var tlsKey: String?

    @Flag(help: "Serve HTTPS with a certificate vnetd makes and keeps in the data folder (tls/); made again at a start when it has expired, is due within 30 days or is not for the --listen address.")
    var tlsSelfSigned = false

    @Flag(help: "Allow plain HTTP on an address other hosts can reach (passwords then cross the network unencrypted).")
    var insecureHTTP = false

    @Option(help: ArgumentHelp("Minutes of inactivity after which a sign-in ends.", valueName: "minutes"))
    var sessionIdleMinutes: Int = 30

    @Option(name: .customLong("server-name"), help: ArgumentHelp(
        "A name browsers use to reach the site (repeatable; name or name:port). Requests for other host names get 421.", valueName: "name"))
    var serverNames: [String] = []

    @Option(help: ArgumentHelp("Connections one client address may hold at once (default 64; 0: no limit).", valueName: "count"))
    var connectionsPerClient: Int?

    @Option(help: ArgumentHelp("Events kept in the event log, the newest (older ones are deleted in the background).", valueName: "count"))
    var eventRetention: Int = EventRetention.defaultMaximumCount

    @Option(help: ArgumentHelp("Also delete events older than this many days.", valueName: "days"))
    var eventRetentionDays: Int?

    @Option(name: .customLong("dns-upstream"), help: ArgumentHelp(
        "A DNS server NAT networks forward names outside their zone to (repeatable; ADDR, ADDR:PORT or [IPv6]:PORT). Default: the nameservers of /etc/resolv.conf, read again when it changes.",
        valueName: "address"))
    var dnsUpstreams: [String] = []

    @Option(help: ArgumentHelp(
        "Group owning the QEMU sockets (mode 0660) and their folder (0750), so QEMU running as another user in it can attach. A missing default group is reported and the sockets keep vnetd's group; a missing group given here stops the start.",
        valueName: "group"))
    var socketGroup: String?

    @Option(name: .customLong("metrics-allow"), help: ArgumentHelp(
        "An address or IPv4 network that may read /metrics without a token (repeatable; 10.0.0.0/8, 127.0.0.1, ::1). Otherwise a token from `vnetd token add` is needed.",
        valueName: "address"))
    var metricsAllow: [String] = []

    func validate() throws {
        guard ListenAddress(parsing: listen) != nil else {
            throw ValidationError("--listen takes host:port, for example 127.0.0.1:8080 or [::1]:8080")
        }
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be between 1 and 256") }
        if let dataplaneThreads, !(1...256).contains(dataplaneThreads) {
            throw ValidationError("--dataplane-threads must be between 1 and 256")
        }
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
        guard !(tlsSelfSigned && tlsCert != nil) else { throw ValidationError("use either --tls-self-signed or --tls-cert/--tls-key") }
        guard (1...10_080).contains(sessionIdleMinutes) else { throw ValidationError("--session-idle-minutes must be between 1 and 10080") }
        guard (1...100_000_000).contains(eventRetention) else { throw ValidationError("--event-retention must be between 1 and 100000000") }
        if let eventRetentionDays, !(1...36_500).contains(eventRetentionDays) {
            throw ValidationError("--event-retention-days must be between 1 and 36500")
        }
        if let connectionsPerClient, !(0...65_535).contains(connectionsPerClient) {
            throw ValidationError("--connections-per-client must be between 0 and 65535")
        }
        for name in serverNames where name.isEmpty || name.utf8.count > 253 || name.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value >= 0x7F }) {
            throw ValidationError("--server-name takes a host name or name:port, for example vnetd.example.org")
        }
        for entry in metricsAllow where MetricsAccess.ClientRange(parsing: entry) == nil {
            throw ValidationError("--metrics-allow takes an IPv4 address or network (10.0.0.0/8) or an IPv6 address, not \(entry)")
        }
        if let socketGroup, socketGroup.isEmpty || socketGroup.utf8.count > 32 {
            throw ValidationError("--socket-group takes a group name or number")
        }
        for upstream in dnsUpstreams where !DNSUpstreamOption.isValid(upstream) {
            throw ValidationError("--dns-upstream takes an address and an optional port, for example 192.0.2.53, 192.0.2.53:5353 or [2001:db8::53]:53 (not “\(upstream)”)")
        }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
    }

    func run() throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        if let journal = JournalLogHandler.journalSocket() {
            LoggingSystem.bootstrap { label in JournalLogHandler(label: label, level: level, socket: journal) }
        } else {
            let stamped = !JournalLogHandler.standardErrorIsJournal()
            LoggingSystem.bootstrap { label in LineLogHandler(label: label, level: level, timestamps: stamped) }
        }
        let logger = Logger(label: "vnetd")
        let dataDir = dataDir ?? ResourceLocator.defaultDataDirectory
        guard let address = ListenAddress(parsing: listen) else { throw ExitCode.validationFailure }
        let configuration = Configuration(
            listen: address,
            dataDirectory: dataDir,
            templatesDirectory: templates ?? ResourceLocator.defaultFolder("Templates"),
            publicDirectory: publicFolder ?? ResourceLocator.defaultFolder("Public"),
            threads: threads)
        var withRuntime = configuration
        withRuntime.runtimeFolder = runtimeDir
        withRuntime.insecureHTTP = insecureHTTP
        withRuntime.sessionPolicy.idleTimeout = TimeInterval(sessionIdleMinutes * 60)
        withRuntime.serverNames = serverNames
        withRuntime.connectionsPerClient = connectionsPerClient
        withRuntime.eventRetention = eventRetention
        withRuntime.eventRetentionAge = eventRetentionDays.map { TimeInterval($0) * 86_400 }
        withRuntime.dnsUpstreams = dnsUpstreams
        if let dataplaneThreads { withRuntime.dataplaneThreads = dataplaneThreads }
        withRuntime.metricsAllowedClients = metricsAllow.compactMap(MetricsAccess.ClientRange.init(parsing:))
        withRuntime.socketGroup = socketGroup ?? "kvm"
        withRuntime.socketGroupIsExplicit = socketGroup != nil
        if let tlsCert, let tlsKey {
            withRuntime.tls = .files(certificate: tlsCert, key: tlsKey)
        } else if tlsSelfSigned {
            withRuntime.tls = .selfSigned
        }

        SignalWaiter.block()
        let service = ServiceNotifier(logger: logger)
        let application: VnetdApplication
        do {
            application = try buildApplication(withRuntime, logger: logger)
        } catch {
            FileHandle.standardError.write(Data("vnetd: error: \(error)\n".utf8))
            throw ExitCode.failure
        }
        let url = "\(withRuntime.usesTLS ? "https" : "http")://\(address.host):\(application.port)/"
        logger.notice("vnetd \(vnetdVersion) serving \(url) with data in \(dataDir)")
        service.ready(status: "serving \(url)")
        service.startWatchdog { application.isServing }
        var signal = SignalWaiter.wait()
        while SignalWaiter.isReload(signal) {
            service.reloading()
            service.reloaded(status: application.reload())
            signal = SignalWaiter.wait()
        }
        logger.notice("received signal \(signal), stopping")
        service.stopping()
        application.shutdown()
    }
}

struct Populate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fill a data folder with generated networks and VMs (for demonstrations and benchmarks).",
        discussion: "Goes through the same rules as the pages. Stop vnetd before populating its data folder.")

    @Option(help: ArgumentHelp("Folder for the database; created if missing (default as for serve).", valueName: "path"))
    var dataDir: String?

    @Option(help: "Guest-only networks to create.")
    var networks: Int = 10

    @Option(help: "Virtual machines to create.")
    var vms: Int = 10

    @Option(help: "Network adapters per VM (1 to 4), each connected to a network.")
    var nicsPerVM: Int = 1

    @Option(help: "How the adapters attach: vhost-user, socket, dgram or tap.")
    var backend: String = "socket"

    @Flag(help: "Let every adapter send from other MAC addresses (load generators, nested VMs).")
    var allowMACSpoofing = false

    @Option(name: .customLong("socket-vms"), help: "VMs more, on the first network, attached as QEMU stream sockets (a mixed network).")
    var socketVMs: Int = 0

    @Option(help: ArgumentHelp("Bind this host adapter and make the first network external on it.", valueName: "adapter"))
    var external: String?

    func validate() throws {
        guard networks >= 0, vms >= 0 else { throw ValidationError("counts cannot be negative") }
        guard (1...4).contains(nicsPerVM) else { throw ValidationError("--nics-per-vm must be between 1 and 4") }
        guard NICBackend(rawValue: backend) != nil else { throw ValidationError("--backend must be vhost-user, socket, dgram or tap") }
        guard socketVMs >= 0 else { throw ValidationError("--socket-vms cannot be negative") }
    }

    func run() throws {
        do {
            let report = try populate(
                dataDirectory: dataDir ?? ResourceLocator.defaultDataDirectory, networks: networks, vms: vms, nicsPerVM: nicsPerVM, backend: NICBackend(rawValue: backend) ?? .socket,
                allowMACSpoofing: allowMACSpoofing, socketVMs: socketVMs, externalAdapter: external)
            print("created \(report.networks) networks, \(report.virtualMachines) VMs and \(report.nics) network adapters in \(String(format: "%.1f", report.seconds)) s")
        } catch {
            FileHandle.standardError.write(Data("vnetd: error: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }
}

struct Leases: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the DHCP leases of a virtual network.",
        discussion: "Columns: address, MAC, host name the guest sent, VM and adapter holding the MAC, expiry (UTC), state.")

    @Option(help: ArgumentHelp("The data folder vnetd serves from (default: ./var, or /var/lib/vnetd for an installed vnetd).", valueName: "path"))
    var dataDir: String?

    @Flag(help: "Print CSV (RFC 4180, formula-safe cells) instead of a table.")
    var csv = false

    @Argument(help: "The network's name (ignoring case) or id.") var network: String

    func run() throws {
        do {
            print(try LeaseReport.render(dataDirectory: dataDir ?? ResourceLocator.defaultDataDirectory, network: network, csv: csv), terminator: "")
        } catch {
            FileHandle.standardError.write(Data("vnetd: error: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }
}

struct User: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage the administrators who may sign in to the website.",
        subcommands: [Add.self, Passwd.self, Remove.self, List.self])

    struct Location: ParsableArguments {
        @Option(help: ArgumentHelp("The data folder vnetd serves from (default: ./var, or /var/lib/vnetd for an installed vnetd).", valueName: "path"))
        var dataDir: String?

        var folder: String { dataDir ?? ResourceLocator.defaultDataDirectory }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add an administrator.",
            discussion: "Asks for the password twice at a terminal; otherwise reads it from the first line of standard input.")
        @OptionGroup var location: Location
        @Argument(help: "The administrator's name (letters, digits, '.', '_', '-').") var name: String

        func run() throws {
            try User.perform(location) { accounts in
                try accounts.service.add(name: name, password: try PasswordPrompt.read(for: name))
                print("added administrator \(name)")
            }
        }
    }

    struct Passwd: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set an administrator's password; their open sessions end.",
            discussion: "Asks for the password twice at a terminal; otherwise reads it from the first line of standard input.")
        @OptionGroup var location: Location
        @Argument(help: "The administrator's name.") var name: String

        func run() throws {
            try User.perform(location) { accounts in
                try accounts.service.changePassword(name: name, to: try PasswordPrompt.read(for: name))
                accounts.forgetInitialPassword(afterChanging: name)
                print("changed the password of \(name)")
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove an administrator (never the last one).")
        @OptionGroup var location: Location
        @Argument(help: "The administrator's name.") var name: String

        func run() throws {
            try User.perform(location) { accounts in
                try accounts.service.remove(name: name)
                print("removed administrator \(name)")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the administrators.")
        @OptionGroup var location: Location

        func run() throws {
            try User.perform(location) { accounts in
                for administrator in try accounts.service.list() {
                    print("\(administrator.name)\tpassword set \(ISO8601DateFormatter().string(from: administrator.changedAt))")
                }
            }
        }
    }

    /// Runs an account command as the local user (its events say so), turning rule violations
    /// into one line on standard error.
    static func perform(_ location: Location, _ body: (AdministratorAccounts) throws -> Void) throws {
        do {
            let accounts = try AdministratorAccounts(dataDirectory: location.folder)
            try Acting.$administrator.withValue(PasswordPrompt.localActor) { try body(accounts) }
        } catch let error as ExitCode {
            throw error
        } catch {
            FileHandle.standardError.write(Data("vnetd: error: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }
}

struct Token: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage the bearer tokens that may read /metrics (Prometheus).",
        subcommands: [Add.self, List.self, Remove.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a token and print it, once: only its SHA-256 is stored.",
            discussion: "Give it to the scraper as `Authorization: Bearer TOKEN` (Prometheus: `authorization: { credentials: TOKEN }`).")
        @OptionGroup var location: User.Location
        @Argument(help: "A name for the token (letters, digits, '.', '_', '-'), e.g. the scraper's host.") var name: String

        func run() throws {
            try Token.perform(location) { tokens in print(try tokens.add(name: name)) }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the tokens by name, with when each was made (the tokens cannot be shown again).")
        @OptionGroup var location: User.Location

        func run() throws {
            try Token.perform(location) { tokens in
                for token in try tokens.list() { print("\(token.name)\tmade \(ISO8601DateFormatter().string(from: token.createdAt))") }
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a token: scrapers using it get 401 from the next request.")
        @OptionGroup var location: User.Location
        @Argument(help: "The token's name.") var name: String

        func run() throws {
            try Token.perform(location) { tokens in
                try tokens.remove(name: name)
                print("removed metrics token \(name)")
            }
        }
    }

    static func perform(_ location: User.Location, _ body: (MetricsTokens) throws -> Void) throws {
        try reportingFailure {
            try StoreCommands.withDatabase(location.folder) { database in try body(MetricsTokens(database: database)) }
        }
    }
}

struct Backup: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a consistent copy of the database to a file, also while vnetd runs.",
        discussion: "SQLite's online backup: one snapshot, taken while vnetd goes on writing. The file is readable only by you (it holds password hashes).")
    @OptionGroup var location: User.Location
    @Argument(help: "The file to write (replaced if it exists).") var file: String

    func run() throws {
        try reportingFailure {
            let summary = try StoreCommands.backup(dataDirectory: location.folder, to: file)
            print("wrote \(file): \(summary.bytes) bytes, schema \(summary.migrations.last ?? "empty")")
        }
    }
}

struct Restore: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replace the database by a backup; vnetd must be stopped.",
        discussion: "The backup is checked first (intact, from this or an earlier vnetd); the database it replaces is kept beside it as vnetd.sqlite.before-restore-TIME. An earlier schema is migrated at the next start.")
    @OptionGroup var location: User.Location
    @Argument(help: "The backup file.") var file: String

    func run() throws {
        try reportingFailure {
            let kept = try StoreCommands.restore(dataDirectory: location.folder, from: file)
            print("restored \(file) into \(location.folder)" + (kept.map { "; the database it replaced is \($0)" } ?? ""))
        }
    }
}

/// Runs a command's work: an error becomes one line on standard error and exit status 1.
func reportingFailure(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let exit as ExitCode {
        throw exit
    } catch {
        FileHandle.standardError.write(Data("vnetd: error: \(error)\n".utf8))
        throw ExitCode.failure
    }
}

// Before any thread starts: a write to a peer that went away (a QEMU VM, a browser, a closed
// log pipe) is an error the writer handles, never a signal that ends vnetd.
signal(SIGPIPE, SIG_IGN)
Vnetd.main()

