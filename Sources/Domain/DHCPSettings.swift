import Foundation
import Packets

/// A network's virtual DHCP server, as configured on its DHCP Server page.
public struct DHCPSettings: Sendable, Equatable {
    public var isEnabled: Bool
    public var network: IPv4Address
    public var mask: IPv4Address
    public var rangeStart: IPv4Address
    public var rangeEnd: IPv4Address
    public var server: IPv4Address
    public var gateway: IPv4Address?
    public var dnsServers: [IPv4Address]
    public var winsServers: [IPv4Address]
    /// Seconds.
    public var leaseTime: Int
    public var renewalTime: Int
    public var rebindingTime: Int
    public var reservations: [DHCPReservation]
    /// Raised by every save; a stale form is refused.
    public var version: Int
    /// Option 15, the guests' DNS domain; nil: none.
    public var domainName: String?
    /// Option 119, tried in order.
    public var searchDomains: [String]
    /// Options 121 and 249.
    public var classlessRoutes: [DHCPRoute]
    /// Option 26, the interface MTU; nil: the guest's default.
    public var mtu: Int?
    /// Option 42.
    public var ntpServers: [IPv4Address]
    /// Next server and boot files; empty: no network boot.
    public var boot: DHCPBoot

    public init(isEnabled: Bool, network: IPv4Address, mask: IPv4Address, rangeStart: IPv4Address, rangeEnd: IPv4Address,
                server: IPv4Address, gateway: IPv4Address?, dnsServers: [IPv4Address], winsServers: [IPv4Address],
                leaseTime: Int, renewalTime: Int, rebindingTime: Int, reservations: [DHCPReservation] = [], version: Int = 0,
                domainName: String? = nil, searchDomains: [String] = [], classlessRoutes: [DHCPRoute] = [], mtu: Int? = nil,
                ntpServers: [IPv4Address] = [], boot: DHCPBoot = DHCPBoot()) {
        self.isEnabled = isEnabled
        self.network = network
        self.mask = mask
        self.rangeStart = rangeStart
        self.rangeEnd = rangeEnd
        self.server = server
        self.gateway = gateway
        self.dnsServers = dnsServers
        self.winsServers = winsServers
        self.leaseTime = leaseTime
        self.renewalTime = renewalTime
        self.rebindingTime = rebindingTime
        self.reservations = reservations
        self.version = version
        self.domainName = domainName
        self.searchDomains = searchDomains
        self.classlessRoutes = classlessRoutes
        self.mtu = mtu
        self.ntpServers = ntpServers
        self.boot = boot
    }

    /// Virtual Server's layout for a /24: hosts .1–.15 reserved, the server at .1, addresses
    /// handed out from .16 to .254, leases of a day renewed at half and rebound at 7/8.
    public static func defaults(for network: IPv4Address) -> DHCPSettings {
        DHCPSettings(
            isEnabled: false, network: network, mask: IPv4Address(255, 255, 255, 0),
            rangeStart: IPv4Address(value: network.value + 16), rangeEnd: IPv4Address(value: network.value + 254),
            server: IPv4Address(value: network.value + 1), gateway: nil, dnsServers: [], winsServers: [],
            leaseTime: 86_400, renewalTime: 43_200, rebindingTime: 75_600)
    }

    public var prefixLength: Int { mask.value.nonzeroBitCount }
    public var broadcast: IPv4Address { IPv4Address(value: network.value | ~mask.value) }

    public func contains(_ address: IPv4Address) -> Bool { address.value & mask.value == network.value }

    /// True when the two networks share any address.
    public func overlaps(network other: IPv4Address, mask otherMask: IPv4Address) -> Bool {
        let common = mask.value & otherMask.value
        return network.value & common == other.value & common
    }
}

public struct DHCPReservation: Sendable, Equatable {
    public var mac: MACAddress
    public var address: IPv4Address
    public var hostName: String

    public init(mac: MACAddress, address: IPv4Address, hostName: String) {
        self.mac = mac
        self.address = address
        self.hostName = hostName
    }
}

/// A lease the DHCP server granted, as stored and shown.
public struct DHCPLease: Sendable, Equatable {
    public var network: NetworkID
    public var address: IPv4Address
    public var mac: MACAddress
    public var clientID: [UInt8]
    public var hostName: String?
    public var expires: Date

    public init(network: NetworkID, address: IPv4Address, mac: MACAddress, clientID: [UInt8], hostName: String?, expires: Date) {
        self.network = network
        self.address = address
        self.mac = mac
        self.clientID = clientID
        self.hostName = hostName
        self.expires = expires
    }
}

/// One change to the stored leases, in the order the server made them.
public enum LeaseRecord: Sendable, Equatable {
    case bound(DHCPLease)
    case released(NetworkID, IPv4Address)
    /// An address set aside until `until` (a client declined it, or the server's probe found it
    /// in use): kept across restarts so the server does not hand it out again at once.
    case held(NetworkID, IPv4Address, until: Date)
}

/// An address the DHCP server set aside, as stored.
public struct DHCPHold: Sendable, Equatable {
    public var address: IPv4Address
    public var until: Date

    public init(address: IPv4Address, until: Date) {
        self.address = address
        self.until = until
    }
}

/// Where the dataplane keeps leases. `save` runs one transaction for a whole batch and returns
/// only when it is durable: ACKs are sent after it returns.
public protocol LeaseStore: Sendable {
    func save(_ records: [LeaseRecord]) throws
    func leases(of network: NetworkID) throws -> [DHCPLease]
    func allLeases() throws -> [DHCPLease]
    /// Addresses set aside and not yet free again.
    func holds(of network: NetworkID, now: Date) throws -> [DHCPHold]
}

/// The DHCP form's fields as typed, so a refused form shows them again.
public struct DHCPDraft: Sendable, Equatable {
    public var isEnabled: Bool
    public var network, mask, rangeStart, rangeEnd, server, gateway, dnsServers, winsServers: String
    public var leaseTime, renewalTime, rebindingTime: String
    public var domainName, searchDomains, classlessRoutes, mtu, ntpServers: String
    public var nextServer, biosBootFile, uefiBootFile, ipxeBootFile: String

    public init(isEnabled: Bool, network: String, mask: String, rangeStart: String, rangeEnd: String, server: String, gateway: String,
                dnsServers: String, winsServers: String, leaseTime: String, renewalTime: String, rebindingTime: String,
                domainName: String = "", searchDomains: String = "", classlessRoutes: String = "", mtu: String = "", ntpServers: String = "",
                nextServer: String = "", biosBootFile: String = "", uefiBootFile: String = "", ipxeBootFile: String = "") {
        self.isEnabled = isEnabled
        self.network = network
        self.mask = mask
        self.rangeStart = rangeStart
        self.rangeEnd = rangeEnd
        self.server = server
        self.gateway = gateway
        self.dnsServers = dnsServers
        self.winsServers = winsServers
        self.leaseTime = leaseTime
        self.renewalTime = renewalTime
        self.rebindingTime = rebindingTime
        self.domainName = domainName
        self.searchDomains = searchDomains
        self.classlessRoutes = classlessRoutes
        self.mtu = mtu
        self.ntpServers = ntpServers
        self.nextServer = nextServer
        self.biosBootFile = biosBootFile
        self.uefiBootFile = uefiBootFile
        self.ipxeBootFile = ipxeBootFile
    }

    /// The settings as the form shows them: lease times in words ("1 day"), lists comma-separated.
    public init(_ settings: DHCPSettings) {
        self.init(
            isEnabled: settings.isEnabled, network: settings.network.description, mask: settings.mask.description,
            rangeStart: settings.rangeStart.description, rangeEnd: settings.rangeEnd.description, server: settings.server.description,
            gateway: settings.gateway?.description ?? "", dnsServers: settings.dnsServers.map(\.description).joined(separator: ", "),
            winsServers: settings.winsServers.map(\.description).joined(separator: ", "), leaseTime: LeaseDuration.format(settings.leaseTime),
            renewalTime: LeaseDuration.format(settings.renewalTime), rebindingTime: LeaseDuration.format(settings.rebindingTime),
            domainName: settings.domainName ?? "", searchDomains: settings.searchDomains.joined(separator: ", "),
            classlessRoutes: settings.classlessRoutes.map(\.description).joined(separator: ", "), mtu: settings.mtu.map(String.init) ?? "",
            ntpServers: settings.ntpServers.map(\.description).joined(separator: ", "), nextServer: settings.boot.nextServer?.description ?? "",
            biosBootFile: settings.boot.biosFile ?? "", uefiBootFile: settings.boot.uefiFile ?? "", ipxeBootFile: settings.boot.ipxeFile ?? "")
    }
}

/// Virtual Server's DHCP rules (DESIGN.md §7), each a problem on its field.
public enum DHCPRules {
    public static let reservedHostCount: UInt32 = 15
    public static let minimumRenewal = 30, minimumRebinding = 45, minimumLease = 60
    /// Masks from /8 to /27: a /28 has 14 hosts, all of them reserved, so no range fits.
    public static let shortestPrefix = 8, longestPrefix = 27
    /// At most this many DNS or WINS servers.
    public static let maximumServers = 16

    /// Networks no virtual DHCP server may hand out: "this network", loopback, multicast and
    /// the reserved 240/4 (with the limited broadcast).
    public static let forbiddenNetworks: [(network: IPv4Address, prefixLength: Int, name: String)] = [
        (IPv4Address(0, 0, 0, 0), 8, "“this network” (0.0.0.0/8)"),
        (IPv4Address(127, 0, 0, 0), 8, "loopback (127.0.0.0/8)"),
        (IPv4Address(224, 0, 0, 0), 4, "multicast (224.0.0.0/4)"),
        (IPv4Address(240, 0, 0, 0), 4, "reserved (240.0.0.0/4)"),
    ]

    static func mask(prefixLength: Int) -> IPv4Address {
        IPv4Address(value: prefixLength == 0 ? 0 : UInt32.max << UInt32(32 - prefixLength))
    }

    /// The draft with a subnet typed as `192.168.50.0/24` split into network and mask, and, when
    /// `replacingRange` or when none is given, the starting, ending and server addresses that
    /// subnet proposes: the server at the first host, the range from the 16th host to the last.
    /// A draft whose subnet does not parse is returned unchanged (the rules then say why).
    public static func completing(_ draft: DHCPDraft, replacingRange: Bool) -> DHCPDraft {
        var draft = draft
        let typed = draft.network.trimmingCharacters(in: .whitespaces)
        let parts = typed.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        if parts.count == 2, IPv4Address(parsing: String(parts[0])) != nil, let prefix = Int(parts[1]), (0...32).contains(prefix) {
            let mask = Self.mask(prefixLength: prefix)
            let maskText = draft.mask.trimmingCharacters(in: .whitespaces)
            if maskText.isEmpty || IPv4Address(parsing: maskText) == mask {
                draft.network = String(parts[0])
                draft.mask = mask.description
            }
        }
        let rangeIsEmpty = [draft.rangeStart, draft.rangeEnd, draft.server].allSatisfy { $0.trimmingCharacters(in: .whitespaces).isEmpty }
        guard replacingRange || rangeIsEmpty,
              let network = IPv4Address(parsing: draft.network.trimmingCharacters(in: .whitespaces)),
              let mask = IPv4Address(parsing: draft.mask.trimmingCharacters(in: .whitespaces)),
              isContiguous(mask), (shortestPrefix...longestPrefix).contains(mask.value.nonzeroBitCount), network.value & ~mask.value == 0
        else { return draft }
        draft.server = IPv4Address(value: network.value + 1).description
        draft.rangeStart = IPv4Address(value: network.value + reservedHostCount + 1).description
        draft.rangeEnd = IPv4Address(value: (network.value | ~mask.value) - 1).description
        return draft
    }

    static func isContiguous(_ mask: IPv4Address) -> Bool {
        let inverted = ~mask.value
        return inverted & (inverted &+ 1) == 0
    }

    /// Parses and checks a draft; returns settings (reservations and version left to the caller) or every problem found.
    public static func settings(from typed: DHCPDraft) -> Result<DHCPSettings, ValidationFailure> {
        let draft = completing(typed, replacingRange: false)
        var problems: [Problem] = []
        func address(_ text: String, _ field: String, _ label: String) -> IPv4Address? {
            let trimmed = text.trimmingCharacters(in: .whitespaces)
            guard let value = IPv4Address(parsing: trimmed) else {
                problems.append(Problem(.dhcpInvalid, field: field, trimmed.isEmpty ? "Enter the \(label)." : "“\(trimmed)” is not an IPv4 address (four numbers 0–255 separated by dots)."))
                return nil
            }
            return value
        }
        func seconds(_ text: String, _ field: String, _ label: String, minimum: Int) -> Int? {
            guard let value = LeaseDuration.parse(text) else {
                problems.append(Problem(.dhcpInvalid, field: field, "Enter the \(label) as a duration like “1 day”, “12 hours” or “90 minutes”, or as a number of seconds."))
                return nil
            }
            guard value >= minimum else {
                problems.append(Problem(.dhcpInvalid, field: field, "The \(label) must be at least \(minimum) seconds."))
                return nil
            }
            guard value <= LeaseDuration.maximum else {
                problems.append(Problem(.dhcpInvalid, field: field, "The \(label) cannot be longer than 100 years."))
                return nil
            }
            return value
        }

        let network: IPv4Address?
        if draft.network.contains("/") {
            // `completing` splits a valid subnet; one left whole disagrees with the mask or does not parse.
            let parts = draft.network.trimmingCharacters(in: .whitespaces).split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            if parts.count == 2, IPv4Address(parsing: String(parts[0])) != nil, let prefix = Int(parts[1]), (0...32).contains(prefix) {
                problems.append(Problem(.dhcpInvalid, field: "mask", "The network mask \(draft.mask.trimmingCharacters(in: .whitespaces)) disagrees with /\(prefix) in the network address: clear the mask or write the network without the prefix."))
            } else {
                problems.append(Problem(.dhcpInvalid, field: "network", "“\(draft.network.trimmingCharacters(in: .whitespaces))” is not a network address or a subnet like 192.168.50.0/24."))
            }
            network = nil
        } else {
            network = address(draft.network, "network", "network address")
        }
        let mask = address(draft.mask, "mask", "network mask")
        let start = address(draft.rangeStart, "rangeStart", "starting IP address")
        let end = address(draft.rangeEnd, "rangeEnd", "ending IP address")
        let server = address(draft.server, "server", "virtual DHCP server address")
        let gatewayText = draft.gateway.trimmingCharacters(in: .whitespaces)
        let gateway = gatewayText.isEmpty ? nil : address(gatewayText, "gateway", "default gateway address")
        let dns = addressList(draft.dnsServers, "dnsServers", "DNS servers", problems: &problems)
        let wins = addressList(draft.winsServers, "winsServers", "WINS servers", problems: &problems)
        let lease = seconds(draft.leaseTime, "leaseTime", "IP address lease time", minimum: minimumLease)
        let renewal = seconds(draft.renewalTime, "renewalTime", "lease renewal time", minimum: minimumRenewal)
        let rebinding = seconds(draft.rebindingTime, "rebindingTime", "lease rebinding time", minimum: minimumRebinding)

        var scopeIsValid = false
        if let mask {
            let inverted = ~mask.value
            if !isContiguous(mask) || !(shortestPrefix...longestPrefix).contains(mask.value.nonzeroBitCount) {
                problems.append(Problem(.dhcpInvalid, field: "mask", "\(mask) is not a network mask from 255.0.0.0 to 255.255.255.224 (/8 to /27, ones, then zeros): the first \(reservedHostCount) host addresses are reserved, so a smaller network has no room for a range."))
            } else if let network, network.value & inverted != 0 {
                problems.append(Problem(.dhcpInvalid, field: "network", "\(network) has host bits set for mask \(mask); the network address is \(IPv4Address(value: network.value & mask.value))."))
            } else if let network, let forbidden = forbiddenNetworks.first(where: { network.value & Self.mask(prefixLength: $0.prefixLength).value == $0.network.value }) {
                problems.append(Problem(.dhcpInvalid, field: "network", "\(network) is in the \(forbidden.name) block, which no host may use as a LAN. Choose a private network such as 192.168.x.0/24 or 10.x.y.0/24."))
            } else if let network, let start, let end, let server {
                let first = network.value + 1, last = network.value | inverted
                let firstAllowed = network.value + reservedHostCount + 1
                let before = problems.count
                for (value, field, label) in [(start, "rangeStart", "starting"), (end, "rangeEnd", "ending"), (server, "server", "server")] as [(IPv4Address, String, String)] {
                    if value.value & mask.value != network.value || value.value == network.value || value.value == last {
                        problems.append(Problem(.dhcpInvalid, field: field, "The \(label) address \(value) must be a host address inside \(network)/\(mask.value.nonzeroBitCount)."))
                    }
                }
                if problems.count == before {
                    if start.value < firstAllowed {
                        problems.append(Problem(.dhcpInvalid, field: "rangeStart", "The first \(reservedHostCount) host addresses are reserved: the starting address must be \(IPv4Address(value: firstAllowed)) or higher."))
                    }
                    if end < start {
                        problems.append(Problem(.dhcpInvalid, field: "rangeEnd", "The ending address must not be lower than the starting address."))
                    }
                    if server.value < first || server >= start {
                        problems.append(Problem(.dhcpInvalid, field: "server", "The server address must lie between the first host address \(IPv4Address(value: first)) and the starting address \(start)."))
                    }
                    if let gateway, gateway.value & mask.value != network.value || gateway.value == network.value || gateway.value == last || gateway == server {
                        problems.append(Problem(.dhcpInvalid, field: "gateway", "The default gateway must be a host address inside the network, other than the server's."))
                    }
                    scopeIsValid = problems.count == before
                }
            }
        }
        if let lease, let renewal, let rebinding, !(renewal < rebinding && rebinding < lease) {
            problems.append(Problem(.dhcpInvalid, field: "renewalTime", "The renewal time must be shorter than the rebinding time, and the rebinding time shorter than the lease time."))
        }
        let options = options(from: draft, scope: scopeIsValid ? network.flatMap { n in mask.map { (n, $0) } } : nil, problems: &problems)
        guard problems.isEmpty, let network, let mask, let start, let end, let server, let lease, let renewal, let rebinding else {
            return .failure(ValidationFailure(problems))
        }
        return .success(DHCPSettings(
            isEnabled: draft.isEnabled, network: network, mask: mask, rangeStart: start, rangeEnd: end, server: server, gateway: gateway,
            dnsServers: dns, winsServers: wins, leaseTime: lease, renewalTime: renewal, rebindingTime: rebinding,
            domainName: options.domainName, searchDomains: options.searchDomains, classlessRoutes: options.routes, mtu: options.mtu,
            ntpServers: options.ntpServers, boot: options.boot))
    }

    /// A comma-separated list of IPv4 addresses, at most `maximumServers`.
    static func addressList(_ text: String, _ field: String, _ label: String, problems: inout [Problem]) -> [IPv4Address] {
        let parts = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        var result: [IPv4Address] = []
        for part in parts {
            guard let value = IPv4Address(parsing: part) else {
                problems.append(Problem(.dhcpInvalid, field: field, "“\(part)” in \(label) is not an IPv4 address. Separate addresses with commas."))
                continue
            }
            result.append(value)
        }
        if result.count > maximumServers { problems.append(Problem(.dhcpInvalid, field: field, "At most \(maximumServers) \(label) can be given.")) }
        return result
    }
}

/// Reservation rules, shared by the DHCP Server page and network definition import.
extension DHCPRules {
    public static let maximumHostNameLength = 63

    /// A host name as stored: surrounding white space removed.
    public static func normalizedHostName(_ name: String) -> String {
        name.trimmingCharacters(in: .whitespaces)
    }

    /// An address a reservation may take: a host address of the network other than the server's.
    public static func isReservable(_ address: IPv4Address, in settings: DHCPSettings) -> Bool {
        settings.contains(address) && address != settings.network && address != settings.broadcast && address != settings.server
    }

    /// Problems with reserving `address` for `mac` (nil: the text did not parse) under
    /// `hostName`, next to the reservations `existing`; each on its DHCP page field.
    public static func reservationProblems(
        mac: MACAddress?, address: IPv4Address?, hostName: String, in settings: DHCPSettings, besides existing: [DHCPReservation]
    ) -> [Problem] {
        var problems: [Problem] = []
        if mac == nil || mac?.isMulticast == true || mac?.isZero == true {
            problems.append(Problem(.reservationInvalid, field: "reservationMAC", "Enter the unicast MAC address of the adapter, like 00-03-FF-12-34-56."))
        }
        if let address {
            if !isReservable(address, in: settings) {
                problems.append(Problem(.reservationInvalid, field: "reservationAddress", "\(address) is not a host address of \(settings.network)/\(settings.prefixLength) other than the server's."))
            }
        } else {
            problems.append(Problem(.reservationInvalid, field: "reservationAddress", "Enter the IPv4 address to reserve."))
        }
        let name = normalizedHostName(hostName)
        if name.utf8.count > maximumHostNameLength || !name.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-") }) {
            problems.append(Problem(.reservationInvalid, field: "reservationHostName", "A host name has at most \(maximumHostNameLength) letters, digits and hyphens."))
        }
        if let mac, existing.contains(where: { $0.mac == mac }) {
            problems.append(Problem(.reservationInvalid, field: "reservationMAC", "\(mac.formatted(separator: "-", uppercase: true)) already has a reservation on this network."))
        }
        if let address, existing.contains(where: { $0.address == address }) {
            problems.append(Problem(.reservationInvalid, field: "reservationAddress", "\(address) is already reserved."))
        }
        return problems
    }
}
