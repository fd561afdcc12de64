import Domain
import WebServer

/// GET /networks/{id}/export and GET/POST /networks/import — Virtual Networks ▸ Add.
struct NetworkExportImportPage: Sendable {
    let site: SiteContext
    static let fields: Set<String> = ["file", "name"]

    func export(_ request: Request) throws -> Response {
        let id = try PathID.network(request)
        let definition: NetworkDefinition
        do {
            definition = try site.dependencies.networks.definition(of: id)
        } catch is NotFound {
            throw HTTPError.notFound("There is no such virtual network.")
        }
        return .attachment(
            Array(NetworkDefinitionXML.encode(definition).utf8),
            contentType: "application/xml; charset=utf-8",
            filename: "\(definition.name).vnetd.xml")
    }

    func show(_ request: Request) throws -> Response {
        try render(request, name: "", errors: FormErrors(), status: 200)
    }

    /// Imports an uploaded definition with the same rules as Create; `name`, when given, replaces
    /// the name in the file (to import a copy beside the original).
    func importDefinition(_ request: Request) throws -> Response {
        let override = request.field("name")
        do {
            guard let file = request.form.files["file"], !file.content.isEmpty else {
                throw ValidationFailure(.definitionInvalid, field: "file", "Choose a network definition file to add.")
            }
            var definition = try NetworkDefinitionXML.decode(file.content)
            if !override.trimmingCharacters(in: .whitespaces).isEmpty { definition.name = override }
            let network = try site.dependencies.networks.importDefinition(definition)
            return .seeOther("/networks/\(network.id.rawValue)")
        } catch let failure as ValidationFailure {
            return try render(request, name: override, errors: FormErrors(Self.attributed(failure, nameTyped: !override.isEmpty), knownFields: Self.fields), status: 422)
        }
    }

    /// Without a typed name, a problem with the name is a problem with the file's <name>.
    static func attributed(_ failure: ValidationFailure, nameTyped: Bool) -> ValidationFailure {
        guard !nameTyped else { return failure }
        return ValidationFailure(failure.problems.map { problem in
            problem.field == "name"
                ? Problem(problem.code, field: "file", "The name in the file cannot be used: \(problem.message) Type another name below to add it under that name.")
                : problem
        })
    }

    private func render(_ request: Request, name: String, errors: FormErrors, status: Int) throws -> Response {
        var context = site.layout.context(title: "Add Virtual Network", section: .addNetwork, request: request)
        context["form"] = ["name": name]
        errors.apply(to: &context)
        return .html(try site.renderer.render("pages/network-import", context), status: status)
    }
}
