import Domain
import Foundation
import WebServer

/// POST /networks/{id}/storm-control — the Storm control form of Network Settings: per-port
/// limits for broadcast, multicast and unknown-unicast frames per second (empty: no limit).
struct StormControlAction: Sendable {
    let site: SiteContext

    func save(_ request: Request) throws -> Response {
        let id = try PathID.network(request)
        let form = StormControlForm(request: request)
        let mark = Notices.mark(site)
        do {
            try site.dependencies.networks.setStormControl(of: id, version: request.formVersion, try form.settings())
            return Notices.redirect("/networks/\(id.rawValue)", since: mark, site)
        } catch let failure as ValidationFailure {
            let page = NetworkSettingsPage(site: site)
            let errors = FormErrors(failure, knownFields: StormControlForm.fields)
            // A stale form shows what is stored now; a refused one keeps what was typed.
            return try page.show(request, storm: failure.has(.staleEdit) ? nil : form, errors: errors,
                                 status: failure.has(.staleEdit) ? 409 : 422)
        } catch is NotFound {
            throw HTTPError.notFound("There is no such virtual network.")
        }
    }
}

/// The Storm control fields as typed.
struct StormControlForm {
    static let fields = Set(StormControlSettings.fields.map(\.0))
    var values: [String]

    init(_ settings: StormControlSettings) {
        values = [settings.broadcast, settings.multicast, settings.unknownUnicast].map { $0.map(String.init) ?? "" }
    }

    init(request: Request) {
        // Longer than any allowed limit is refused below without being parsed.
        values = StormControlSettings.fields.map { String(request.field($0.0).trimmingCharacters(in: .whitespaces).prefix(12)) }
    }

    func settings() throws -> StormControlSettings {
        var problems: [Problem] = []
        let limits = zip(values, StormControlSettings.fields).map { text, field -> Int? in
            guard !text.isEmpty else { return nil }
            guard text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let value = Int(text) else {
                problems.append(Problem(.stormControlInvalid, field: field.0,
                                        "The \(field.1) limit must be a whole number of frames per second, or empty for no limit."))
                return nil
            }
            return value
        }
        guard problems.isEmpty else { throw ValidationFailure(problems) }
        let settings = StormControlSettings(broadcast: limits[0], multicast: limits[1], unknownUnicast: limits[2])
        let outOfRange = settings.problems()
        guard outOfRange.isEmpty else { throw ValidationFailure(outOfRange) }
        return settings
    }

    func context(network: NetworkID) -> [String: Any] {
        [
            "action": "/networks/\(network.rawValue)/storm-control",
            "broadcast": values[0], "multicast": values[1], "unknownUnicast": values[2],
            "isOn": values.contains { !$0.isEmpty },
        ]
    }
}
