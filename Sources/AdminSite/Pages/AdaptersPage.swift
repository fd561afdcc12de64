import Domain
import WebServer

/// GET/POST /adapters — host adapters and their Virtual Machine Network Services switch.
///
/// Pseudo-devices (`ifb*`, `dummy*`) carry no LAN, so they are offered only with `?all=1`, or
/// when one is already bound or used. A refused save shows each refused adapter's box as it
/// really is (its switch did not change) beside the reason, and keeps the other choices.
struct AdaptersPage: Sendable {
    let site: SiteContext
    static let pseudoPrefixes = ["ifb", "dummy"]

    static func isPseudo(_ name: String) -> Bool {
        pseudoPrefixes.contains { name.hasPrefix($0) }
    }

    func show(_ request: Request) throws -> Response {
        try render(request, chosen: nil, errors: FormErrors(), notice: nil, status: 200)
    }

    func save(_ request: Request) throws -> Response {
        let chosen = Set(request.form.values("bind"))
        let mark = Notices.mark(site)
        do {
            try site.dependencies.adapters.setBindings(bound: chosen)
            return Notices.redirect("/adapters", since: mark, site)
        } catch let failure as ValidationFailure {
            let fields = Set(try site.dependencies.adapters.adapters().map { "adapter-\($0.name)" })
            return try render(request, chosen: chosen, errors: FormErrors(failure, knownFields: fields), notice: nil, status: 422)
        }
    }

    /// - Parameter chosen: the check boxes as submitted, to keep them on a failed save.
    private func render(_ request: Request, chosen: Set<String>?, errors: FormErrors, notice: String?, status: Int) throws -> Response {
        let everything = try site.dependencies.adapters.adapters()
        let networks = try site.dependencies.store.read { try $0.allNetworks() }
        let showAll = request.query["all"] == "1"
        let used = Set(networks.compactMap(\.kind.adapterName))
        let adapters = everything.filter { showAll || !Self.isPseudo($0.name) || $0.isBound || used.contains($0.name) }
        var context = site.layout.context(title: "Host Adapters", section: .adapters, request: request)
        context["hiddenCount"] = everything.count - adapters.count
        context["showAll"] = showAll
        context["hasPseudo"] = everything.contains { Self.isPseudo($0.name) }
        context["adapters"] = adapters.map { adapter -> [String: Any] in
            let users = networks.filter { $0.kind.adapterName == adapter.name }
            let messages = errors.messages(for: "adapter-\(adapter.name)")
            // A refused adapter keeps its real state; the others show what was submitted.
            let checked = messages.isEmpty ? (chosen.map { $0.contains(adapter.name) } ?? adapter.isBound) : adapter.isBound
            return [
                "name": adapter.name,
                "mac": adapter.mac.map(Labels.mac) ?? "—",
                "state": Labels.adapterState(adapter),
                "present": adapter.isPresent,
                "wireless": adapter.isPresent && adapter.isWireless,
                "checked": checked,
                // A missing adapter can be unbound but not bound.
                "disabled": !adapter.isPresent && !adapter.isBound,
                "networks": users.map { ["id": $0.id.rawValue, "name": $0.name] },
                "hasNetworks": !users.isEmpty,
                "errors": messages,
                "invalid": !messages.isEmpty,
            ]
        }
        context["hasAdapters"] = !adapters.isEmpty
        if let notice { context["notice"] = notice }
        Notices.apply(request, site, to: &context)
        errors.apply(to: &context)
        return .html(try site.renderer.render("pages/adapters", context), status: status)
    }
}
