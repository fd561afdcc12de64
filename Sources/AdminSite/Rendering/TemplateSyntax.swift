/// The Mustache templates' syntax tree, parsed once at start-up.
///
/// The subset the site's templates use, with the Mustache specification's meaning: `{{name}}`
/// (escaped), `{{{name}}}` and `{{&name}}` (inserted as is), `{{#name}}…{{/name}}` sections,
/// `{{^name}}…{{/name}}` inverted sections, `{{! comment }}`, `{{> partial}}`, and inheritance:
/// `{{<parent}}{{$block}}…{{/block}}{{/parent}}` renders `parent` with its `{{$block}}default{{/block}}`
/// replaced. Dotted names (`errors.name`) and `{{.}}` work as in the specification. A tag alone on
/// its line (except a variable) removes that whole line from the output ("standalone" lines),
/// so the HTML is laid out as the template file is. Pragmas (`{{% … }}`) are ignored. Changing
/// delimiters and lambdas are not supported: such a template is refused at start.
indirect enum TemplateNode: Sendable {
    case text([UInt8])
    case variable(TemplateName, escaped: Bool)
    case section(TemplateName, [TemplateNode], inverted: Bool)
    /// `indentation`: the whitespace before a standalone partial tag, put before each of its lines.
    case partial(String, indentation: [UInt8])
    /// Renders the named template with these blocks in place of its own.
    case parent(String, blocks: [String: [TemplateNode]])
    /// A block: its default content, unless the template is rendered as another one's parent.
    case block(String, [TemplateNode])
}

/// A name in a tag, split at its dots once, at parse time.
struct TemplateName: Sendable {
    /// Empty for `{{.}}`, the current value.
    let path: [String]

    init(_ text: String) {
        path = text == "." ? [] : text.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
    }
}

struct TemplateSyntaxError: Error, CustomStringConvertible {
    let line: Int
    let message: String
    var description: String { "line \(line): \(message)" }
}

enum TemplateSyntax {
    /// A piece of template text before the tree is built.
    private enum Token {
        case text([UInt8])
        /// `sigil`: the tag's first character (`#`, `^`, `/`, `!`, `>`, `<`, `$`, `%`, `&`, `{`, `=`) or 0 for a plain variable.
        case tag(sigil: UInt8, name: String, line: Int)
    }

    static func parse(_ source: String) throws -> [TemplateNode] {
        var tokens = try tokenize(Array(source.utf8))
        let indentation = removeStandaloneLines(&tokens)
        var position = 0
        return try build(tokens, indentation, &position, closing: nil)
    }

    /// The names of the templates a tree includes or inherits from, to check they exist at start.
    static func references(in nodes: [TemplateNode]) -> Set<String> {
        var names: Set<String> = []
        for node in nodes {
            switch node {
            case .text, .variable: break
            case .section(_, let inner, _), .block(_, let inner): names.formUnion(references(in: inner))
            case .partial(let name, _): names.insert(name)
            case .parent(let name, let blocks):
                names.insert(name)
                for inner in blocks.values { names.formUnion(references(in: inner)) }
            }
        }
        return names
    }

    private static let open: [UInt8] = Array("{{".utf8)
    private static let brace = UInt8(ascii: "{"), closeBrace = UInt8(ascii: "}"), newline = UInt8(ascii: "\n")

    private static func tokenize(_ bytes: [UInt8]) throws -> [Token] {
        var tokens: [Token] = []
        var index = 0, textStart = 0, line = 1
        while index + 1 < bytes.count {
            guard bytes[index] == brace, bytes[index + 1] == brace else {
                if bytes[index] == newline { line += 1 }
                index += 1
                continue
            }
            if textStart < index { tokens.append(.text(Array(bytes[textStart..<index]))) }
            let tagLine = line
            var start = index + 2
            let triple = start < bytes.count && bytes[start] == brace
            if triple { start += 1 }
            let closer: [UInt8] = triple ? [closeBrace, closeBrace, closeBrace] : [closeBrace, closeBrace]
            guard let end = find(closer, in: bytes, from: start) else {
                throw TemplateSyntaxError(line: tagLine, message: "a tag is not closed with \(triple ? "}}}" : "}}")")
            }
            for byte in bytes[start..<end] where byte == newline { line += 1 }
            var content = String(decoding: bytes[start..<end], as: UTF8.self)[...]
            var sigil: UInt8 = triple ? brace : 0
            if !triple, let first = content.utf8.first, "#^/!><$%&=".utf8.contains(first) {
                sigil = first
                content = content.dropFirst()
            }
            if sigil == UInt8(ascii: "=") {
                throw TemplateSyntaxError(line: tagLine, message: "changing delimiters is not supported")
            }
            let name = sigil == UInt8(ascii: "!") ? "" : content.trimmingSpaces
            if name.isEmpty && sigil != UInt8(ascii: "!") && sigil != UInt8(ascii: "%") {
                throw TemplateSyntaxError(line: tagLine, message: "a tag has no name")
            }
            tokens.append(.tag(sigil: sigil, name: name, line: tagLine))
            index = end + closer.count
            textStart = index
        }
        if textStart < bytes.count { tokens.append(.text(Array(bytes[textStart...]))) }
        return tokens
    }

    private static func find(_ needle: [UInt8], in bytes: [UInt8], from start: Int) -> Int? {
        var index = start
        while index + needle.count <= bytes.count {
            if bytes[index] == needle[0] && bytes[index..<(index + needle.count)].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }

    private static func isBlank(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0D }

    /// A tag that is not a variable and stands alone on its line takes the line with it: the
    /// blanks before it (kept as a partial's indentation) and the blanks and newline after it.
    /// Decided on the original text for every tag, then applied. Returns the indentation of each
    /// standalone partial, by token position.
    private static func removeStandaloneLines(_ tokens: inout [Token]) -> [Int: [UInt8]] {
        var standalone = [Bool](repeating: false, count: tokens.count)
        var indentation: [Int: [UInt8]] = [:]
        for (index, token) in tokens.enumerated() {
            guard case .tag(let sigil, _, _) = token, sigil != 0, sigil != brace, sigil != UInt8(ascii: "&") else { continue }
            var before: [UInt8] = []
            if index > 0 {
                guard case .text(let text) = tokens[index - 1] else { continue }
                let lineStart = text.lastIndex(of: newline).map { $0 + 1 }
                guard lineStart != nil || index == 1 else { continue }
                before = Array(text[(lineStart ?? 0)...])
                guard before.allSatisfy(isBlank) else { continue }
            }
            if index + 1 < tokens.count {
                guard case .text(let text) = tokens[index + 1] else { continue }
                let lineEnd = text.firstIndex(of: newline)
                guard lineEnd != nil || index + 2 == tokens.count else { continue }
                guard text[..<(lineEnd ?? text.count)].allSatisfy(isBlank) else { continue }
            }
            standalone[index] = true
            if sigil == UInt8(ascii: ">") { indentation[index] = before }
        }
        for (index, token) in tokens.enumerated() {
            guard case .text(let text) = token else { continue }
            var start = 0, end = text.count
            if index > 0, standalone[index - 1] { start = (text.firstIndex(of: newline) ?? (text.count - 1)) + 1 }
            if index + 1 < tokens.count, standalone[index + 1] { end = text.lastIndex(of: newline).map { $0 + 1 } ?? 0 }
            tokens[index] = .text(start < end ? Array(text[start..<end]) : [])
        }
        return indentation
    }

    /// Builds the tree up to the tag that closes `closing` (or the end when nil).
    private static func build(_ tokens: [Token], _ indentation: [Int: [UInt8]], _ position: inout Int,
                              closing: (name: String, line: Int)?) throws -> [TemplateNode] {
        var nodes: [TemplateNode] = []
        while position < tokens.count {
            let token = tokens[position]
            position += 1
            switch token {
            case .text(let text):
                if !text.isEmpty { nodes.append(.text(text)) }
            case .tag(let sigil, let name, let line):
                switch sigil {
                case 0: nodes.append(.variable(TemplateName(name), escaped: true))
                case brace, UInt8(ascii: "&"): nodes.append(.variable(TemplateName(name), escaped: false))
                case UInt8(ascii: "!"), UInt8(ascii: "%"): break
                case UInt8(ascii: "#"), UInt8(ascii: "^"):
                    let inner = try build(tokens, indentation, &position, closing: (name, line))
                    nodes.append(.section(TemplateName(name), inner, inverted: sigil == UInt8(ascii: "^")))
                case UInt8(ascii: "$"):
                    nodes.append(.block(name, try build(tokens, indentation, &position, closing: (name, line))))
                case UInt8(ascii: "<"):
                    let inner = try build(tokens, indentation, &position, closing: (name, line))
                    var blocks: [String: [TemplateNode]] = [:]
                    for case .block(let block, let content) in inner { blocks[block] = content }
                    nodes.append(.parent(name, blocks: blocks))
                case UInt8(ascii: ">"): nodes.append(.partial(name, indentation: indentation[position - 1] ?? []))
                case UInt8(ascii: "/"):
                    guard let closing else { throw TemplateSyntaxError(line: line, message: "{{/\(name)}} closes nothing") }
                    guard closing.name == name else {
                        throw TemplateSyntaxError(line: line, message: "{{/\(name)}} where {{/\(closing.name)}} (opened on line \(closing.line)) was expected")
                    }
                    return nodes
                default:
                    throw TemplateSyntaxError(line: line, message: "unknown tag")
                }
            }
        }
        if let closing { throw TemplateSyntaxError(line: closing.line, message: "{{\(closing.name)}} is never closed") }
        return nodes
    }
}

private extension Substring {
    var trimmingSpaces: String {
        let blanks: Set<Character> = [" ", "\t", "\n", "\r"]
        var text = self
        while let first = text.first, blanks.contains(first) { text = text.dropFirst() }
        while let last = text.last, blanks.contains(last) { text = text.dropLast() }
        return String(text)
    }
}
