import AdminSite
import Domain
import Foundation
import WebServer

/// Everything `vnetd serve` can be told on its command line.
public struct Configuration: Sendable {
    public var listen: ListenAddress
    public var dataDirectory: String
    public var templatesDirectory: String
    public var publicDirectory: String
    public var threads: Int
    public var connectionLimit: Int
    public var maximumBodySize: Int
    /// Folder for the QEMU sockets; nil means `run` inside the data folder.
    public var runtimeFolder: String?
    /// Where host adapters come from; nil reads the host's sysfs. Tests pass a fixed list.
    public var adapterDiscovery: (any AdapterDiscovering)?
    /// How the site is served: plain HTTP, or HTTPS with given or generated files.
    public var tls: TLSSetting = .none
    /// Allows plain HTTP on an address other hosts can reach (otherwise refused at start).
    public var insecureHTTP = false
    public var sessionPolicy = SessionPolicy()
    /// Host names (or name:port) clients use to reach the site, besides the listen address and,
    /// on loopback, localhost: requests naming any other host get 421 (DNS rebinding).
    public var serverNames: [String] = []
    /// Connections one client address may hold at once; nil: the web server's default.
    public var connectionsPerClient: Int?
    /// Events kept in the event log (the newest); older ones are pruned in the background.
    public var eventRetention = EventRetention.defaultMaximumCount
    /// Events older than this are pruned too; nil: only the count applies.
    public var eventRetentionAge: TimeInterval?
    /// Upstream DNS servers of NAT networks (`--dns-upstream`); empty: the host's resolv.conf.
    public var dnsUpstreams: [String] = []
    /// Clients that may read `/metrics` without a token.
    public var metricsAllowedClients: [MetricsAccess.ClientRange] = []
    /// Group that owns the QEMU sockets and the runtime folder (mode 0660 and 0750); nil: the
    /// process's own group.
    public var socketGroup: String?
    /// Whether `socketGroup` was asked for (a missing group is then an error, not a warning).
    public var socketGroupIsExplicit = false
    /// Event-loop threads of the data path (`--dataplane-threads`): one per core by default.
    public var dataplaneThreads = ProcessInfo.processInfo.activeProcessorCount

    public enum TLSSetting: Sendable, Equatable {
        case none
        /// PEM files: the certificate (chain) and its private key.
        case files(certificate: String, key: String)
        /// A certificate vnetd makes once and keeps in `tls/` inside the data folder.
        case selfSigned
    }

    public init(
        listen: ListenAddress = ListenAddress(host: "127.0.0.1", port: 8080),
        dataDirectory: String = "var",
        templatesDirectory: String = ResourceLocator.defaultFolder("Templates"),
        publicDirectory: String = ResourceLocator.defaultFolder("Public"),
        threads: Int = HTTPServerConfiguration.processorCount,
        connectionLimit: Int = 1024,
        maximumBodySize: Int = 1 << 20,
        adapterDiscovery: (any AdapterDiscovering)? = nil
    ) {
        self.adapterDiscovery = adapterDiscovery
        self.runtimeFolder = nil
        self.listen = listen
        self.dataDirectory = dataDirectory
        self.templatesDirectory = templatesDirectory
        self.publicDirectory = publicDirectory
        self.threads = threads
        self.connectionLimit = connectionLimit
        self.maximumBodySize = maximumBodySize
    }
}

extension Configuration {
    public var usesTLS: Bool { tls != .none }

    /// Where vnetd writes the first administrator's password (readable by its owner only).
    public var initialPasswordFile: String { (dataDirectory as NSString).appendingPathComponent("initial-admin-password") }
    public var selfSignedCertificateFile: String { (dataDirectory as NSString).appendingPathComponent("tls/vnetd-cert.pem") }
    public var selfSignedKeyFile: String { (dataDirectory as NSString).appendingPathComponent("tls/vnetd-key.pem") }

    /// The runtime folder as an absolute path (QEMU is told these socket paths).
    public var runtimeDirectory: String {
        let folder = runtimeFolder ?? (dataDirectory as NSString).appendingPathComponent("run")
        if folder.hasPrefix("/") { return (folder as NSString).standardizingPath }
        return ((FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(folder) as NSString).standardizingPath
    }
}

/// Finds `Templates/` and `Public/` when no path is given: first in the working directory, then
/// where `make install` put them (`../share/vnetd/` beside the executable's `bin` or `sbin`),
/// then in the folders above the executable (a build under `.build/` runs from anywhere).
public enum ResourceLocator {
    public static func defaultFolder(_ name: String) -> String {
        let manager = FileManager.default
        let inWorkingDirectory = (manager.currentDirectoryPath as NSString).appendingPathComponent(name)
        if manager.fileExists(atPath: inWorkingDirectory) { return inWorkingDirectory }
        if let installed = installedShareFolder.map({ ($0 as NSString).appendingPathComponent(name) }), manager.fileExists(atPath: installed) {
            return installed
        }
        var folder = executableFolder as NSString
        for _ in 0..<5 {
            let candidate = folder.appendingPathComponent(name)
            if manager.fileExists(atPath: candidate) { return candidate }
            folder = folder.deletingLastPathComponent as NSString
        }
        return inWorkingDirectory
    }

    /// The data folder when none is given: `/var/lib/vnetd` for an installed vnetd (its site
    /// files are under `share/vnetd`), `var` in the working directory for one run from a clone.
    public static var defaultDataDirectory: String {
        let manager = FileManager.default
        let cloneTemplates = (manager.currentDirectoryPath as NSString).appendingPathComponent("Templates")
        guard !manager.fileExists(atPath: cloneTemplates), let share = installedShareFolder,
            manager.fileExists(atPath: (share as NSString).appendingPathComponent("Templates"))
        else { return "var" }
        return "/var/lib/vnetd"
    }

    /// `PREFIX/share/vnetd` for an executable installed as `PREFIX/bin/vnetd` or `PREFIX/sbin/vnetd`.
    static var installedShareFolder: String? {
        let folder = executableFolder as NSString
        guard ["bin", "sbin"].contains(folder.lastPathComponent) else { return nil }
        return ((folder.deletingLastPathComponent as NSString).appendingPathComponent("share") as NSString).appendingPathComponent("vnetd")
    }

    private static var executableFolder: String {
        ((Bundle.main.executablePath.map { ($0 as NSString).resolvingSymlinksInPath } ?? "") as NSString).deletingLastPathComponent
    }
}
