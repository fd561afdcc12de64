import Foundation
import Synchronization
import WebServer

public struct TemplateError: Error, CustomStringConvertible {
    public let description: String
}

/// Renders pages from the Mustache templates in one folder.
///
/// Every `*.mustache` file below the folder is parsed once at start-up (`TemplateSyntax`) and
/// registered under its path relative to the folder, without extension (`layout`, `pages/status`).
/// A syntax error, a partial or parent that does not exist, or a missing folder stops vnetd at
/// start, never in the middle of a request.
///
/// Every `{{value}}` is escaped per UTF-8 byte (`HTMLBytes.appendEscaped`, the rule of
/// `HTMLEscaping`), never per grapheme cluster. Templates never use the unescaped `{{{...}}}`
/// form for user data.
public struct TemplateRenderer: Sendable {
    private let templates: [String: [TemplateNode]]
    /// How many bytes each template's last page had, so the next one's buffer is made that size at once.
    private let sizes: [String: SizeHint]
    public let directory: String

    public init(directory: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw TemplateError(description: "template folder \(directory) does not exist")
        }
        guard let enumerator = FileManager.default.enumerator(atPath: directory) else {
            throw TemplateError(description: "template folder \(directory) cannot be read")
        }
        var templates: [String: [TemplateNode]] = [:]
        for case let relative as String in enumerator where relative.hasSuffix(".mustache") {
            let path = (directory as NSString).appendingPathComponent(relative)
            guard let data = FileManager.default.contents(atPath: path) else {
                throw TemplateError(description: "template \(path) cannot be read")
            }
            do {
                templates[String(relative.dropLast(".mustache".count))] = try TemplateSyntax.parse(String(decoding: data, as: UTF8.self))
            } catch {
                throw TemplateError(description: "template \(path) has a syntax error: \(error)")
            }
        }
        guard templates["layout"] != nil else {
            throw TemplateError(description: "template folder \(directory) has no layout.mustache")
        }
        for (name, nodes) in templates.sorted(by: { $0.key < $1.key }) {
            if let missing = TemplateSyntax.references(in: nodes).sorted().first(where: { templates[$0] == nil }) {
                throw TemplateError(description: "template \(name) includes \(missing), which does not exist")
            }
        }
        self.templates = templates
        sizes = templates.mapValues { _ in SizeHint() }
        self.directory = directory
    }

    /// Renders a registered template; throws when it does not exist, which is a programming error shown as 500.
    public func render(_ name: String, _ context: [String: Any]) throws -> String {
        String(decoding: try renderBytes(name, context), as: UTF8.self)
    }

    /// The page as UTF-8 bytes, for a response body.
    public func renderBytes(_ name: String, _ context: [String: Any]) throws -> [UInt8] {
        guard let nodes = templates[name], let size = sizes[name] else {
            throw TemplateError(description: "no template named \(name)")
        }
        var rendering = TemplateRendering(templates: templates, root: context, capacity: size.last.load(ordering: .relaxed) + 256)
        rendering.render(nodes, blocks: [:])
        size.last.store(rendering.out.count, ordering: .relaxed)
        return rendering.out
    }

    /// The page as an HTML response, its bytes as rendered (`Response.html` of `render` checks and copies them again).
    public func page(_ name: String, _ context: [String: Any], status: Int = 200) throws -> Response {
        var response = Response.html("", status: status)
        response.body = try renderBytes(name, context)
        return response
    }
}

private final class SizeHint: Sendable {
    let last = Atomic<Int>(16_384)
}
