import Domain
import Packets
import WebServer

/// POST /networks/{id}/dhcp with action "reserve" or "unreserve": adds or removes a reservation.
extension DHCPPage {
    func changeReservation(_ request: Request, id: NetworkID) throws -> Response {
        let reservation = (request.field("reservationMAC"), request.field("reservationAddress"), request.field("reservationHostName"))
        let service = site.dependencies.dhcp
        do {
            if request.field("action") == "reserve" {
                try service.addReservation(to: id, version: request.formVersion, mac: reservation.0, address: reservation.1, hostName: reservation.2)
            } else {
                guard let mac = MACAddress(parsing: request.field("mac")) else { throw HTTPError.badRequest("No reservation was named.") }
                try service.removeReservation(from: id, version: request.formVersion, mac: mac)
            }
            return .seeOther("/networks/\(id.rawValue)/dhcp?saved=1")
        } catch let failure as ValidationFailure {
            let settings = try current(id)
            let errors = FormErrors(failure, knownFields: Self.fields)
            if failure.has(.staleEdit) {
                return try render(request, id: id, draft: DHCPDraft(settings), settings: settings, version: settings.version,
                                  reservation: ("", "", ""), errors: errors, notice: nil, status: 409)
            }
            // A refused reservation keeps the settings as stored and the reservation as typed.
            return try render(request, id: id, draft: DHCPDraft(settings), settings: settings, version: request.formVersion,
                              reservation: reservation, errors: errors, notice: nil, status: 422)
        } catch is NotFound {
            throw HTTPError.notFound("There is no such virtual network or reservation.")
        }
    }
}
