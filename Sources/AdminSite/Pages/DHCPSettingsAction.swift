import Domain
import Foundation
import Packets
import WebServer

/// POST /networks/{id}/dhcp — saves the settings ("save"), proposes a range from the subnet
/// ("propose"), returns from a confirmation to the form ("edit"), or adds or removes a
/// reservation ("reserve", "unreserve"). A scope that leaves reservations or live leases behind
/// is shown for confirmation first; the confirmed form carries the administrator's choices.
extension DHCPPage {
    func save(_ request: Request) throws -> Response {
        let id = try PathID.network(request)
        switch request.field("action") {
        case "reserve", "unreserve": return try changeReservation(request, id: id)
        case "propose":
            let draft = DHCPRules.completing(Self.draft(request), replacingRange: true)
            return try render(request, id: id, draft: draft, settings: try current(id), version: request.formVersion,
                              reservation: ("", "", ""), errors: FormErrors(), notice: nil, status: 200)
        case "edit":
            return try render(request, id: id, draft: Self.draft(request), settings: try current(id), version: request.formVersion,
                              reservation: ("", "", ""), errors: FormErrors(), notice: nil, status: 200)
        default: return try saveSettings(request, id: id)
        }
    }

    private func saveSettings(_ request: Request, id: NetworkID) throws -> Response {
        let draft = Self.draft(request)
        let service = site.dependencies.dhcp
        do {
            if request.field("confirmed") == "1" {
                do {
                    try service.update(id, version: request.formVersion, draft, decisions: nil)
                } catch let question as ScopeChangeNeedsConfirmation {
                    try service.update(id, version: request.formVersion, draft, decisions: Self.decisions(request, for: question.change))
                }
            } else {
                try service.update(id, version: request.formVersion, draft, decisions: nil)
            }
            return .seeOther("/networks/\(id.rawValue)/dhcp?saved=1")
        } catch let question as ScopeChangeNeedsConfirmation {
            return try confirmation(request, id: id, draft: draft, question: question)
        } catch let failure as ValidationFailure {
            let settings = try current(id)
            let errors = FormErrors(failure, knownFields: Self.fields)
            if failure.has(.staleEdit) {
                return try render(request, id: id, draft: DHCPDraft(settings), settings: settings, version: settings.version,
                                  reservation: ("", "", ""), errors: errors, notice: nil, status: 409)
            }
            return try render(request, id: id, draft: draft, settings: settings, version: request.formVersion,
                              reservation: ("", "", ""), errors: errors, notice: nil, status: 422)
        } catch is NotFound {
            throw HTTPError.notFound("There is no such virtual network.")
        }
    }

    /// What the confirmation's radio buttons chose; anything not chosen is kept.
    static func decisions(_ request: Request, for change: ScopeChange) -> ScopeDecisions {
        var decisions = ScopeDecisions()
        for moved in change.reservations {
            if let proposed = moved.proposed, request.field(reservationField(moved.reservation.mac)) == "renumber" {
                decisions.renumber[moved.reservation.mac] = proposed
            }
        }
        for lease in change.leases where request.field(leaseField(lease.address)) == "release" {
            decisions.release.insert(lease.address)
        }
        return decisions
    }

    static func reservationField(_ mac: MACAddress) -> String { "reservation-\(mac)" }
    static func leaseField(_ address: IPv4Address) -> String { "lease-\(address)" }

    private func confirmation(_ request: Request, id: NetworkID, draft: DHCPDraft, question: ScopeChangeNeedsConfirmation) throws -> Response {
        let owner = try lookup(try site.dependencies.store.read { try $0.network(id) }, "There is no such virtual network.")
        var context = site.layout.context(title: "Change the DHCP scope of \(owner.name)?", section: .networks, request: request)
        context["network"] = ["id": id.rawValue, "name": owner.name]
        context["version"] = request.formVersion
        context["form"] = ["enabled": draft.isEnabled]
        context["hidden"] = Self.values(draft).map { ["name": $0.0, "value": $0.1] }
        let next = question.settings
        context["scope"] = "\(next.network)/\(next.prefixLength), range \(next.rangeStart)–\(next.rangeEnd)"
        context["reservations"] = question.change.reservations.map { moved -> [String: Any] in
            var row: [String: Any] = [
                "mac": Labels.mac(moved.reservation.mac), "address": moved.reservation.address.description,
                "hostName": Formatting.guestText(moved.reservation.hostName), "field": Self.reservationField(moved.reservation.mac),
            ]
            if let proposed = moved.proposed { row["proposed"] = proposed.description }
            return row
        }
        context["hasReservations"] = !question.change.reservations.isEmpty
        context["leases"] = question.change.leases.map {
            ["address": $0.address.description, "mac": Labels.mac($0.mac), "hostName": Formatting.guestText($0.hostName ?? ""),
             "expires": Formatting.utc($0.expires), "field": Self.leaseField($0.address)]
        }
        context["hasLeases"] = !question.change.leases.isEmpty
        return .html(try site.renderer.render("pages/dhcp-confirm", context), status: 200)
    }
}
