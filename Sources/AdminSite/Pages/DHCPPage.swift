import Domain
import Foundation
import Packets
import WebServer

/// GET/POST /networks/{id}/dhcp — the virtual DHCP server's settings, reservations and leases.
struct DHCPPage: Sendable {
    let site: SiteContext
    static let fields: Set<String> = [
        "network", "mask", "rangeStart", "rangeEnd", "server", "gateway", "dnsServers", "winsServers",
        "leaseTime", "renewalTime", "rebindingTime", "reservationMAC", "reservationAddress", "reservationHostName",
    ]

    func show(_ request: Request) throws -> Response {
        let id = try PathID.network(request)
        let settings = try current(id)
        let notice = request.query["saved"] == "1" ? "DHCP settings saved." : nil
        return try render(request, id: id, draft: DHCPDraft(settings), settings: settings, version: settings.version,
                          reservation: ("", "", ""), errors: FormErrors(), notice: notice, status: 200)
    }

    func save(_ request: Request) throws -> Response {
        let id = try PathID.network(request)
        let draft = DHCPDraft(
            isEnabled: request.field("enabled") == "on", network: request.field("network"), mask: request.field("mask"),
            rangeStart: request.field("rangeStart"), rangeEnd: request.field("rangeEnd"), server: request.field("server"),
            gateway: request.field("gateway"), dnsServers: request.field("dnsServers"), winsServers: request.field("winsServers"),
            leaseTime: request.field("leaseTime"), renewalTime: request.field("renewalTime"), rebindingTime: request.field("rebindingTime"))
        let reservation = (request.field("reservationMAC"), request.field("reservationAddress"), request.field("reservationHostName"))
        let service = site.dependencies.dhcp
        do {
            switch request.field("action") {
            case "reserve":
                try service.addReservation(to: id, version: request.formVersion, mac: reservation.0, address: reservation.1, hostName: reservation.2)
            case "unreserve":
                guard let mac = MACAddress(parsing: request.field("mac")) else { throw HTTPError.badRequest("No reservation was named.") }
                try service.removeReservation(from: id, version: request.formVersion, mac: mac)
            default:
                try service.update(id, version: request.formVersion, draft)
            }
            return .seeOther("/networks/\(id.rawValue)/dhcp?saved=1")
        } catch let failure as ValidationFailure {
            let settings = try current(id)
            let errors = FormErrors(failure, knownFields: Self.fields)
            if failure.has(.staleEdit) {
                return try render(request, id: id, draft: DHCPDraft(settings), settings: settings, version: settings.version,
                                  reservation: ("", "", ""), errors: errors, notice: nil, status: 409)
            }
            // A refused reservation keeps the settings as stored; a refused save keeps what was typed.
            let shown = request.field("action") == "save" || request.field("action").isEmpty ? draft : DHCPDraft(settings)
            return try render(request, id: id, draft: shown, settings: settings, version: request.formVersion,
                              reservation: reservation, errors: errors, notice: nil, status: 422)
        } catch is NotFound {
            throw HTTPError.notFound("There is no such virtual network or reservation.")
        }
    }

    private func current(_ id: NetworkID) throws -> DHCPSettings {
        do {
            return try site.dependencies.dhcp.settings(of: id)
        } catch is NotFound {
            throw HTTPError.notFound("There is no such virtual network.")
        }
    }

    private func render(_ request: Request, id: NetworkID, draft: DHCPDraft, settings: DHCPSettings, version: Int,
                        reservation: (String, String, String), errors: FormErrors, notice: String?, status: Int) throws -> Response {
        let dependencies = site.dependencies
        let (network, leases) = try dependencies.store.read { db in (try db.network(id), try db.leases(of: id)) }
        let owner = try lookup(network, "There is no such virtual network.")
        var context = site.layout.context(title: "DHCP Server: \(owner.name)", section: .networks, request: request)
        context["network"] = ["id": id.rawValue, "name": owner.name]
        context["form"] = [
            "enabled": draft.isEnabled, "network": draft.network, "mask": draft.mask, "rangeStart": draft.rangeStart,
            "rangeEnd": draft.rangeEnd, "server": draft.server, "gateway": draft.gateway, "dnsServers": draft.dnsServers,
            "winsServers": draft.winsServers, "leaseTime": draft.leaseTime, "renewalTime": draft.renewalTime, "rebindingTime": draft.rebindingTime,
        ]
        context["isNew"] = settings.version == 0
        context["version"] = version
        context["reservation"] = ["mac": reservation.0, "address": reservation.1, "hostName": reservation.2]
        context["reservations"] = settings.reservations.map {
            ["mac": Labels.mac($0.mac), "macValue": $0.mac.description, "address": $0.address.description, "hostName": Formatting.guestText($0.hostName)]
        }
        context["hasReservations"] = !settings.reservations.isEmpty
        context["leases"] = try LeaseRows.rows(Array(leases.prefix(LeaseRows.pageLimit)), store: dependencies.store, now: dependencies.clock.now())
        context["hasLeases"] = !leases.isEmpty
        context["leaseCount"] = leases.count
        context["moreLeases"] = leases.count > LeaseRows.pageLimit
        if let runtime = dependencies.status.status(of: id).dhcp {
            context["runtime"] = [
                "offers": runtime.offers, "acks": runtime.acks, "naks": runtime.naks, "exhausted": runtime.exhausted,
                "hasExhausted": runtime.exhausted > 0, "ignoredFromLAN": runtime.ignoredFromLAN,
            ]
        }
        if let notice { context["notice"] = notice }
        errors.apply(to: &context)
        return .html(try site.renderer.render("pages/dhcp", context), status: status)
    }
}

/// Lease rows with the VM and adapter that hold each address, for the DHCP, network and VM pages.
enum LeaseRows {
    /// Leases shown on one page, lowest addresses first.
    static let pageLimit = 500

    static func rows(_ leases: [DHCPLease], store: any InventoryStore, now: Date) throws -> [[String: Any]] {
        try store.read { db in
            try leases.map { lease -> [String: Any] in
                var row: [String: Any] = [
                    "address": lease.address.description, "mac": Labels.mac(lease.mac), "hostName": Formatting.guestText(lease.hostName ?? ""),
                    "expires": Formatting.utc(lease.expires), "expired": lease.expires <= now,
                ]
                if let owner = try db.nic(using: lease.mac) {
                    row["vmID"] = owner.nic.vmID.rawValue
                    row["vmName"] = owner.vmName
                    row["nic"] = owner.nic.label
                }
                return row
            }
        }
    }
}
