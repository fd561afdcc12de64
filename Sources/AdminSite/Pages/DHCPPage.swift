import Domain
import Foundation
import Packets
import WebServer

/// GET /networks/{id}/dhcp — the virtual DHCP server's settings, reservations and leases. The
/// actions live beside it: DHCPSettingsAction (save, propose, confirm a scope change),
/// DHCPReservationAction, DHCPLeaseActions.
struct DHCPPage: Sendable {
    let site: SiteContext
    static let settingsFields: Set<String> = [
        "network", "mask", "rangeStart", "rangeEnd", "server", "gateway", "dnsServers", "winsServers",
        "leaseTime", "renewalTime", "rebindingTime", "domainName", "searchDomains", "classlessRoutes", "mtu", "ntpServers",
        "nextServer", "biosBootFile", "uefiBootFile", "ipxeBootFile",
    ]
    static let fields = settingsFields.union(["reservationMAC", "reservationAddress", "reservationHostName"])

    static let notices = [
        "saved": "DHCP settings saved.", "released": "The lease was released.", "reserved": "The lease is now a reservation.",
    ]

    func show(_ request: Request) throws -> Response {
        let id = try PathID.network(request)
        let settings = try current(id)
        let key = request.query["saved"] == "1" ? "saved" : request.query["saved"]
        let notice = key.flatMap { Self.notices[$0] }
        return try render(request, id: id, draft: DHCPDraft(settings), settings: settings, version: settings.version,
                          reservation: ("", "", ""), errors: FormErrors(), notice: notice, status: 200)
    }

    func current(_ id: NetworkID) throws -> DHCPSettings {
        do {
            return try site.dependencies.dhcp.settings(of: id)
        } catch is NotFound {
            throw HTTPError.notFound("There is no such virtual network.")
        }
    }

    /// The form's settings fields as posted.
    static func draft(_ request: Request) -> DHCPDraft {
        DHCPDraft(
            isEnabled: request.field("enabled") == "on", network: request.field("network"), mask: request.field("mask"),
            rangeStart: request.field("rangeStart"), rangeEnd: request.field("rangeEnd"), server: request.field("server"),
            gateway: request.field("gateway"), dnsServers: request.field("dnsServers"), winsServers: request.field("winsServers"),
            leaseTime: request.field("leaseTime"), renewalTime: request.field("renewalTime"), rebindingTime: request.field("rebindingTime"),
            domainName: request.field("domainName"), searchDomains: request.field("searchDomains"), classlessRoutes: request.field("classlessRoutes"),
            mtu: request.field("mtu"), ntpServers: request.field("ntpServers"), nextServer: request.field("nextServer"),
            biosBootFile: request.field("biosBootFile"), uefiBootFile: request.field("uefiBootFile"), ipxeBootFile: request.field("ipxeBootFile"))
    }

    /// The draft's fields by form name, for the form and for the confirmation's hidden fields.
    static func values(_ draft: DHCPDraft) -> [(String, String)] {
        [
            ("network", draft.network), ("mask", draft.mask), ("rangeStart", draft.rangeStart), ("rangeEnd", draft.rangeEnd),
            ("server", draft.server), ("gateway", draft.gateway), ("dnsServers", draft.dnsServers), ("winsServers", draft.winsServers),
            ("leaseTime", draft.leaseTime), ("renewalTime", draft.renewalTime), ("rebindingTime", draft.rebindingTime),
            ("domainName", draft.domainName), ("searchDomains", draft.searchDomains), ("classlessRoutes", draft.classlessRoutes),
            ("mtu", draft.mtu), ("ntpServers", draft.ntpServers), ("nextServer", draft.nextServer), ("biosBootFile", draft.biosBootFile),
            ("uefiBootFile", draft.uefiBootFile), ("ipxeBootFile", draft.ipxeBootFile),
        ]
    }

    func render(_ request: Request, id: NetworkID, draft: DHCPDraft, settings: DHCPSettings, version: Int,
                reservation: (String, String, String), errors: FormErrors, notice: String?, status: Int) throws -> Response {
        let dependencies = site.dependencies
        let (network, leases) = try dependencies.store.read { db in (try db.network(id), try db.leases(of: id)) }
        let owner = try lookup(network, "There is no such virtual network.")
        var context = site.layout.context(title: "DHCP Server: \(owner.name)", section: .networks, request: request)
        context["network"] = ["id": id.rawValue, "name": owner.name]
        context["networkID"] = id.rawValue
        // Host and NAT networks: the server answers from the host interface's address, which is
        // also the guests' router and DNS server unless set here; the page says so at the fields.
        if owner.kind.hasHostInterface { context["hostAddress"] = owner.hostInterface.effectiveAddress(in: settings).description }
        var form: [String: Any] = ["enabled": draft.isEnabled]
        for (name, value) in Self.values(draft) { form[name] = value }
        context["form"] = form
        context["isNew"] = settings.version == 0
        context["version"] = version
        context["reservation"] = ["mac": reservation.0, "address": reservation.1, "hostName": reservation.2]
        context["reservations"] = settings.reservations.map {
            ["mac": Labels.mac($0.mac), "macValue": $0.mac.description, "address": $0.address.description, "hostName": Formatting.guestText($0.hostName),
             "outside": !DHCPRules.isReservable($0.address, in: settings)]
        }
        context["hasReservations"] = !settings.reservations.isEmpty
        let reserved = Set(settings.reservations.map(\.mac))
        let shown = Array(leases.prefix(LeaseRows.pageLimit))
        context["leases"] = try zip(shown, LeaseRows.rows(shown, store: dependencies.store, now: dependencies.clock.now())).map { lease, row in
            var row = row
            row["reserved"] = reserved.contains(lease.mac)
            return row
        }
        context["hasLeases"] = !leases.isEmpty
        context["leaseCount"] = leases.count
        context["moreLeases"] = leases.count > LeaseRows.pageLimit
        if let note = Self.infrastructureNote(draft) { context["infrastructureInRange"] = note }
        if owner.kind.adapterName != nil, let lan = dependencies.dhcp.hostLAN(overlapping: settings) {
            context["lanNote"] = "This scope lies on a LAN the host is on (\(lan.network)/\(lan.mask.value.nonzeroBitCount)): the guests share it with the host's neighbours, so keep the range clear of the addresses they use and of the LAN's own DHCP server's range."
        }
        if let runtime = dependencies.status.status(of: id).dhcp {
            let problems = [
                (runtime.conflicts, "addresses found in use by the probe"),
                (runtime.reservationFallbacks, "reservations that could not be granted (a dynamic address went out instead)"),
                (runtime.foreignHardware, "requests a VM made for another adapter's hardware address"),
                (runtime.shed, "DISCOVERs left for their client to repeat while the server was behind"),
            ].filter { $0.0 > 0 }.map { "\($0.0) \($0.1)" }
            context["runtime"] = [
                "offers": runtime.offers, "acks": runtime.acks, "naks": runtime.naks, "exhausted": runtime.exhausted,
                "hasExhausted": runtime.exhausted > 0, "ignoredFromLAN": runtime.ignoredFromLAN,
                "inUse": runtime.addressesInUse, "poolSize": runtime.poolSize,
                "problems": problems, "hasProblems": !problems.isEmpty,
            ]
        }
        if let notice { context["notice"] = notice }
        errors.apply(to: &context)
        return .html(try site.renderer.render("pages/dhcp", context), status: status)
    }

    /// "The gateway 192.168.50.254 lies in the range: …", from what the form shows.
    static func infrastructureNote(_ draft: DHCPDraft) -> String? {
        let completed = DHCPRules.completing(draft, replacingRange: false)
        func address(_ text: String) -> IPv4Address? { IPv4Address(parsing: text.trimmingCharacters(in: .whitespaces)) }
        func list(_ text: String) -> [IPv4Address] { text.split(separator: ",").compactMap { address(String($0)) } }
        guard let start = address(completed.rangeStart), let end = address(completed.rangeEnd) else { return nil }
        var named: [(String, IPv4Address)] = []
        if let gateway = address(completed.gateway) { named.append(("the gateway \(gateway)", gateway)) }
        named += list(completed.dnsServers).map { ("the DNS server \($0)", $0) } + list(completed.winsServers).map { ("the WINS server \($0)", $0) }
        let inRange = named.filter { $0.1 >= start && $0.1 <= end }.map(\.0)
        guard !inRange.isEmpty else { return nil }
        let names = inRange.count == 1 ? inRange[0] : inRange.dropLast().joined(separator: ", ") + " and " + (inRange.last ?? "")
        return "\(names.prefix(1).uppercased() + names.dropFirst()) \(inRange.count == 1 ? "lies" : "lie") in the range: the server never hands \(inRange.count == 1 ? "it" : "them") out."
    }
}
