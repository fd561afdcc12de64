import Foundation
import Packets

/// A classless static route (options 121 and 249): `destination/prefixLength` through `router`.
public struct DHCPRoute: Sendable, Equatable, CustomStringConvertible {
    public var destination: IPv4Address
    public var prefixLength: Int
    public var router: IPv4Address

    public init(destination: IPv4Address, prefixLength: Int, router: IPv4Address) {
        self.destination = destination
        self.prefixLength = prefixLength
        self.router = router
    }

    /// As typed and exported: `10.20.0.0/16 via 192.168.50.254`.
    public var description: String { "\(destination)/\(prefixLength) via \(router)" }

    /// Its size in option 121: the prefix length, the significant octets of the destination, the router.
    var encodedSize: Int { 1 + (prefixLength + 7) / 8 + 4 }
}

/// Network boot: PXE ROMs load `biosFile` or `uefiFile` (by their architecture, option 93) from
/// `nextServer` over TFTP; iPXE gets `ipxeFile`, often an HTTP URL of a script. vnetd serves no
/// files itself.
public struct DHCPBoot: Sendable, Equatable {
    public var nextServer: IPv4Address?
    public var biosFile: String?
    public var uefiFile: String?
    public var ipxeFile: String?

    public init(nextServer: IPv4Address? = nil, biosFile: String? = nil, uefiFile: String? = nil, ipxeFile: String? = nil) {
        self.nextServer = nextServer
        self.biosFile = biosFile
        self.uefiFile = uefiFile
        self.ipxeFile = ipxeFile
    }

    public var isEmpty: Bool { nextServer == nil && biosFile == nil && uefiFile == nil && ipxeFile == nil }
}

/// Rules of the options a guest asks for beyond Virtual Server's: each value must fit the DHCP
/// option that carries it (at most 255 bytes), names follow DNS label rules.
extension DHCPRules {
    public static let maximumSearchDomains = 8
    public static let maximumRoutes = 16
    public static let minimumMTU = 68, maximumMTU = 65_535
    /// BIOS and UEFI file names go in the BOOTP header's 128-byte `file` field, NUL-terminated;
    /// the iPXE file or URL goes in option 67.
    public static let maximumBootFileSize = 127, maximumIPXEFileSize = 255
    /// Option 15 and each name of option 119 in its encoded form stay under 255 bytes.
    public static let maximumDomainNameLength = 253

    /// Why `name` is not a DNS domain name (letters, digits and hyphens in dot-separated labels
    /// of at most 63, no hyphen at either end of a label, at most 253 in all), or nil.
    public static func domainNameProblem(_ name: String) -> String? {
        guard name.unicodeScalars.allSatisfy(\.isASCII) else {
            return "“\(name)” has characters other than ASCII letters, digits, hyphens and dots (write an international name in its xn-- form)."
        }
        guard name.utf8.count <= maximumDomainNameLength else { return "A domain name has at most \(maximumDomainNameLength) characters." }
        for label in name.split(separator: ".", omittingEmptySubsequences: false) {
            guard !label.isEmpty else { return "“\(name)” has an empty label (two dots in a row, or a dot at the start)." }
            guard label.utf8.count <= 63 else { return "“\(label)” in “\(name)” is longer than 63 characters." }
            guard label.unicodeScalars.allSatisfy({ $0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-" }) else {
                return "“\(name)” may contain only letters, digits, hyphens and dots."
            }
            guard label.first != "-", label.last != "-" else { return "“\(label)” in “\(name)” starts or ends with a hyphen." }
        }
        return nil
    }

    /// A domain as stored: trimmed, without the root's trailing dot.
    static func normalizedDomain(_ text: String) -> String {
        var name = text.trimmingCharacters(in: .whitespaces)
        if name.hasSuffix(".") { name.removeLast() }
        return name
    }

    struct Options {
        var domainName: String?
        var searchDomains: [String] = []
        var routes: [DHCPRoute] = []
        var mtu: Int?
        var ntpServers: [IPv4Address] = []
        var boot = DHCPBoot()
    }

    /// The new options of `draft`, each problem on its field. `scope` is the network and mask
    /// when they are valid (routers must lie inside it).
    static func options(from draft: DHCPDraft, scope: (IPv4Address, IPv4Address)?, problems: inout [Problem]) -> Options {
        var options = Options()
        let domain = normalizedDomain(draft.domainName)
        if !domain.isEmpty {
            if let problem = domainNameProblem(domain) {
                problems.append(Problem(.dhcpInvalid, field: "domainName", problem))
            } else {
                options.domainName = domain
            }
        }

        let names = draft.searchDomains.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\n" || $0 == "\r" }).map { normalizedDomain(String($0)) }.filter { !$0.isEmpty }
        for name in names {
            if let problem = domainNameProblem(name) {
                problems.append(Problem(.dhcpInvalid, field: "searchDomains", problem))
            } else if !options.searchDomains.contains(where: { $0.lowercased() == name.lowercased() }) {
                options.searchDomains.append(name)
            }
        }
        // RFC 3397 encoding: each label with its length byte, each name with its root byte.
        let searchSize = options.searchDomains.reduce(0) { $0 + $1.utf8.count + 2 }
        if options.searchDomains.count > maximumSearchDomains || searchSize > 255 {
            problems.append(Problem(.dhcpInvalid, field: "searchDomains", "The search list holds at most \(maximumSearchDomains) domains and 255 bytes in all (this one needs \(searchSize))."))
        }

        options.routes = routes(draft.classlessRoutes, scope: scope, problems: &problems)

        let mtuText = draft.mtu.trimmingCharacters(in: .whitespaces)
        if !mtuText.isEmpty {
            if let mtu = Int(mtuText), (minimumMTU...maximumMTU).contains(mtu) {
                options.mtu = mtu
            } else {
                problems.append(Problem(.dhcpInvalid, field: "mtu", "The MTU is a whole number of bytes from \(minimumMTU) to \(maximumMTU) (1500 on most Ethernet networks)."))
            }
        }

        options.ntpServers = addressList(draft.ntpServers, "ntpServers", "NTP servers", problems: &problems)

        let nextText = draft.nextServer.trimmingCharacters(in: .whitespaces)
        if !nextText.isEmpty {
            if let next = IPv4Address(parsing: nextText), !next.isUnspecified, !next.isMulticast, next != .broadcast {
                options.boot.nextServer = next
            } else {
                problems.append(Problem(.dhcpInvalid, field: "nextServer", "“\(nextText)” is not the unicast IPv4 address of a TFTP server."))
            }
        }
        options.boot.biosFile = bootFile(draft.biosBootFile, "biosBootFile", "BIOS boot file", limit: maximumBootFileSize, problems: &problems)
        options.boot.uefiFile = bootFile(draft.uefiBootFile, "uefiBootFile", "UEFI boot file", limit: maximumBootFileSize, problems: &problems)
        options.boot.ipxeFile = bootFile(draft.ipxeBootFile, "ipxeBootFile", "iPXE boot file or URL", limit: maximumIPXEFileSize, problems: &problems)
        if options.boot.nextServer == nil, nextText.isEmpty, options.boot.biosFile != nil || options.boot.uefiFile != nil {
            problems.append(Problem(.dhcpInvalid, field: "nextServer", "Enter the TFTP server that holds the BIOS and UEFI boot files (vnetd serves no files itself)."))
        }
        return options
    }

    static func bootFile(_ text: String, _ field: String, _ label: String, limit: Int, problems: inout [Problem]) -> String? {
        let file = text.trimmingCharacters(in: .whitespaces)
        guard !file.isEmpty else { return nil }
        if file.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            problems.append(Problem(.dhcpInvalid, field: field, "The \(label) cannot contain NUL or other control characters."))
            return nil
        }
        if file.utf8.count > limit {
            problems.append(Problem(.dhcpInvalid, field: field, "The \(label) has at most \(limit) bytes in UTF-8 (this one has \(file.utf8.count))."))
            return nil
        }
        return file
    }

    /// Routes as typed: `destination/prefix via router`, separated by commas or lines.
    static func routes(_ text: String, scope: (IPv4Address, IPv4Address)?, problems: inout [Problem]) -> [DHCPRoute] {
        var routes: [DHCPRoute] = []
        let entries = text.split(whereSeparator: { $0 == "," || $0 == "\n" || $0 == "\r" }).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        for entry in entries {
            let words = entry.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            let parts = words.first?.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false) ?? []
            let routerWord = words.count == 3 && words[1].lowercased() == "via" ? words[2] : (words.count == 2 ? words[1] : nil)
            guard parts.count == 2, let destination = IPv4Address(parsing: String(parts[0])), let prefix = Int(parts[1]), (0...32).contains(prefix),
                  let routerWord, let router = IPv4Address(parsing: routerWord)
            else {
                problems.append(Problem(.dhcpInvalid, field: "classlessRoutes", "“\(entry)” is not a route: write destination/prefix via router, like 10.20.0.0/16 via 192.168.50.254."))
                continue
            }
            let mask = Self.mask(prefixLength: prefix)
            if destination.value & ~mask.value != 0 {
                problems.append(Problem(.dhcpInvalid, field: "classlessRoutes", "\(entry): \(destination) has host bits set for /\(prefix); the destination is \(IPv4Address(value: destination.value & mask.value))/\(prefix)."))
                continue
            }
            if let (network, netmask) = scope {
                let last = network.value | ~netmask.value
                if router.value & netmask.value != network.value || router == network || router.value == last {
                    problems.append(Problem(.dhcpInvalid, field: "classlessRoutes", "\(entry): the router \(router) must be a host address of \(network)/\(netmask.value.nonzeroBitCount), where the guests can reach it."))
                    continue
                }
            }
            if routes.contains(where: { $0.destination == destination && $0.prefixLength == prefix }) {
                problems.append(Problem(.dhcpInvalid, field: "classlessRoutes", "\(destination)/\(prefix) is given twice."))
                continue
            }
            routes.append(DHCPRoute(destination: destination, prefixLength: prefix, router: router))
        }
        let size = routes.reduce(0) { $0 + $1.encodedSize }
        if routes.count > maximumRoutes || size > 255 {
            problems.append(Problem(.dhcpInvalid, field: "classlessRoutes", "At most \(maximumRoutes) routes, 255 bytes in all, fit the option (these need \(size))."))
        }
        return routes
    }
}

/// Lease times as people write them: "1 day", "12 hours", "90 minutes", "1 day 6 hours",
/// "45s", or plain seconds.
public enum LeaseDuration {
    public static let maximum = 100 * 365 * 86_400

    static let units: [(names: [String], seconds: Int)] = [
        (["w", "week", "weeks"], 604_800), (["d", "day", "days"], 86_400), (["h", "hour", "hours", "hr", "hrs"], 3_600),
        (["m", "minute", "minutes", "min", "mins"], 60), (["s", "second", "seconds", "sec", "secs"], 1),
    ]

    /// Seconds, or nil when the text is not a duration.
    public static func parse(_ text: String) -> Int? {
        let lowered = text.lowercased().replacingOccurrences(of: ",", with: " ").replacingOccurrences(of: " and ", with: " ")
        guard lowered.utf8.count <= 100 else { return nil }
        // Split digits from letters: "1d12h" reads as "1 d 12 h".
        var tokens: [String] = []
        var current = ""
        for character in lowered {
            let isDigit = character.isASCII && character.isNumber
            if character == " " || character == "\t" {
                if !current.isEmpty { tokens.append(current) }
                current = ""
            } else if let last = current.last, (last.isASCII && last.isNumber) != isDigit {
                tokens.append(current)
                current = String(character)
            } else {
                current.append(character)
            }
        }
        if !current.isEmpty { tokens.append(current) }
        guard !tokens.isEmpty else { return nil }
        if tokens.count == 1, let plain = Int(tokens[0]) { return plain }
        guard tokens.count % 2 == 0 else { return nil }
        var total = 0
        for index in stride(from: 0, to: tokens.count, by: 2) {
            guard let amount = Int(tokens[index]), amount <= maximum, let unit = units.first(where: { $0.names.contains(tokens[index + 1]) }) else { return nil }
            let (product, overflow) = amount.multipliedReportingOverflow(by: unit.seconds)
            guard !overflow else { return nil }
            total += product
            guard total <= maximum * 2 else { return nil }
        }
        return total
    }

    /// "1 day", "21 hours", "52 minutes 30 seconds": whole units, largest first, weeks left out.
    public static func format(_ seconds: Int) -> String {
        guard seconds > 0 else { return "\(seconds) seconds" }
        var rest = seconds
        var parts: [String] = []
        for (names, size) in units.dropFirst() where rest >= size {
            let amount = rest / size
            rest %= size
            parts.append("\(amount) \(amount == 1 ? names[1] : names[2])")
        }
        return parts.joined(separator: " ")
    }
}
