import Domain
import Foundation
import Packets
import WebServer

/// The lease actions of the DHCP Server page: POST …/dhcp/leases/release ends a lease now,
/// POST …/dhcp/leases/reserve turns one into a reservation, GET …/dhcp/leases.csv downloads them.
struct DHCPLeaseActions: Sendable {
    let page: DHCPPage

    func release(_ request: Request) throws -> Response {
        let id = try PathID.network(request)
        let address = try Self.address(request)
        do {
            try page.site.dependencies.dhcp.releaseLease(of: id, address: address)
        } catch is NotFound {
            throw HTTPError.notFound("There is no such virtual network or live lease of \(address).")
        }
        return .seeOther("/networks/\(id.rawValue)/dhcp?saved=released")
    }

    func reserve(_ request: Request) throws -> Response {
        let id = try PathID.network(request)
        let address = try Self.address(request)
        do {
            try page.site.dependencies.dhcp.reserveLease(of: id, version: request.formVersion, address: address)
            return .seeOther("/networks/\(id.rawValue)/dhcp?saved=reserved")
        } catch let failure as ValidationFailure {
            let settings = try page.current(id)
            // The problems are about a reservation the administrator did not type: show them on top.
            let errors = FormErrors(failure, knownFields: [])
            return try page.render(request, id: id, draft: DHCPDraft(settings), settings: settings, version: settings.version,
                                   reservation: ("", "", ""), errors: errors, notice: nil, status: failure.has(.staleEdit) ? 409 : 422)
        } catch is NotFound {
            throw HTTPError.notFound("There is no such virtual network or lease of \(address).")
        }
    }

    func csv(_ request: Request) throws -> Response {
        let id = try PathID.network(request)
        let dependencies = page.site.dependencies
        do {
            let listing = try dependencies.dhcp.leaseListing(of: id)
            let name = try dependencies.store.read { try $0.network(id) }?.name ?? "network"
            return .attachment(Array(LeaseTable.csv(listing, now: dependencies.clock.now()).utf8),
                               contentType: "text/csv; charset=utf-8", filename: "\(name) leases.csv")
        } catch is NotFound {
            throw HTTPError.notFound("There is no such virtual network.")
        }
    }

    static func address(_ request: Request) throws -> IPv4Address {
        guard let address = IPv4Address(parsing: request.field("address").trimmingCharacters(in: .whitespaces)) else {
            throw HTTPError.badRequest("No lease was named.")
        }
        return address
    }
}
