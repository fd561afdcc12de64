import Foundation
import Mustache
import WebServer

public struct TemplateError: Error, CustomStringConvertible {
    public let description: String
}

/// Renders pages from the Mustache templates in one folder.
///
/// Every `*.mustache` file below the folder is parsed once at start-up and registered under its
/// path relative to the folder, without extension (`layout`, `pages/status`). A syntax error or a
/// missing folder stops vnetd at start, never in the middle of a request.
///
/// Every `{{value}}` is escaped by `HTMLEscaping` (per byte, not per grapheme cluster as
/// swift-mustache's own HTML escaper does): each template is parsed with the content-type pragma
/// of `SiteHTML` put in front of its text, so no template or partial can forget it. Templates
/// never use the unescaped `{{{...}}}` form for user data.
public struct TemplateRenderer: Sendable {
    private let library: MustacheLibrary
    public let directory: String

    public init(directory: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw TemplateError(description: "template folder \(directory) does not exist")
        }
        guard let enumerator = FileManager.default.enumerator(atPath: directory) else {
            throw TemplateError(description: "template folder \(directory) cannot be read")
        }
        SiteHTML.register()
        var library = MustacheLibrary()
        for case let relative as String in enumerator where relative.hasSuffix(".mustache") {
            let path = (directory as NSString).appendingPathComponent(relative)
            guard let data = FileManager.default.contents(atPath: path) else {
                throw TemplateError(description: "template \(path) cannot be read")
            }
            do {
                library.register(try MustacheTemplate(string: SiteHTML.pragma + String(decoding: data, as: UTF8.self)),
                                 named: String(relative.dropLast(".mustache".count)))
            } catch {
                throw TemplateError(description: "template \(path) has a syntax error: \(error)")
            }
        }
        guard library.getTemplate(named: "layout") != nil else {
            throw TemplateError(description: "template folder \(directory) has no layout.mustache")
        }
        self.library = library
        self.directory = directory
    }

    /// Renders a registered template; throws when it does not exist, which is a programming error shown as 500.
    public func render(_ name: String, _ context: [String: Any]) throws -> String {
        guard let html = library.render(context, withTemplate: name) else {
            throw TemplateError(description: "no template named \(name)")
        }
        return html
    }
}

/// The site's escaper as a swift-mustache content type.
struct SiteHTML: MustacheContentType {
    static let name = "VNETD_HTML"
    static let pragma = "{{% CONTENT_TYPE: \(name) }}"

    /// swift-mustache keeps content types in a process-wide table; registering again is harmless.
    static func register() {
        MustacheContentTypes.register(SiteHTML(), named: name)
    }

    func escapeText(_ text: String) -> String {
        HTMLEscaping.escape(text)
    }
}
