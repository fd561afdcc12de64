import Foundation

/// Renders parsed templates against the pages' view models (`[String: Any]` trees) into UTF-8 bytes.
///
/// Values mean what they meant under swift-mustache, which rendered these templates before:
/// - a section over an array renders once per element, over `true` once, over `false`, nil or
///   a missing name not at all, over any other value (a dictionary, a string, a number) once
///   with that value on top of the context;
/// - an inverted section renders for `false`, nil, a missing name and an empty array;
/// - a variable shows a string as it is, other values as `String(describing:)` (an optional
///   unwrapped), nil as nothing; escaped variables go through `appendEscaped` (per byte).
///
/// Speed: the view models' containers are recognized by comparing their type (no protocol
/// conformance look-ups, which made up most of a page's time before); other types take a slower
/// path through `Mirror`. Output goes into one byte buffer, text nodes copied as they are.
struct TemplateRendering {
    let templates: [String: [TemplateNode]]
    var out: [UInt8] = []
    private var stack: [Any] = []

    init(templates: [String: [TemplateNode]], root: Any, capacity: Int) {
        self.templates = templates
        stack = [root]
        out.reserveCapacity(capacity)
    }

    mutating func render(_ nodes: [TemplateNode], blocks: [String: [TemplateNode]]) {
        for node in nodes {
            switch node {
            case .text(let bytes):
                out.append(contentsOf: bytes)
            case .variable(let name, let escaped):
                guard let value = resolve(name) else { continue }
                append(value, escaped: escaped)
            case .section(let name, let inner, let inverted):
                let value = resolve(name)
                if inverted {
                    if isFalsy(value) { render(inner, blocks: blocks) }
                } else if let value {
                    section(value, inner, blocks: blocks)
                }
            case .partial(let name, let indentation):
                guard let partial = templates[name] else { continue }
                if indentation.isEmpty {
                    render(partial, blocks: blocks)
                } else {
                    let start = out.count
                    render(partial, blocks: blocks)
                    indent(from: start, with: indentation)
                }
            case .parent(let name, let overrides):
                guard let parent = templates[name] else { continue }
                // The outermost definition of a block wins, as in the specification.
                render(parent, blocks: blocks.merging(overrides) { outer, _ in outer })
            case .block(let name, let fallback):
                render(blocks[name] ?? fallback, blocks: blocks)
            }
        }
    }

    // MARK: sections

    private mutating func section(_ value: Any, _ inner: [TemplateNode], blocks: [String: [TemplateNode]]) {
        let type = ObjectIdentifier(Swift.type(of: value))
        if type == Types.rows {
            for element in value as! [[String: Any]] { push(element, inner, blocks) }
        } else if type == Types.bool {
            if value as! Bool { render(inner, blocks: blocks) }
        } else if type == Types.list {
            for element in value as! [Any] { push(element, inner, blocks) }
        } else if type == Types.strings {
            for element in value as! [String] { push(element, inner, blocks) }
        } else if Types.isPlain(type) {
            push(value, inner, blocks)
        } else if case .optional(let wrapped) = Self.unwrap(value) {
            if let wrapped { section(wrapped, inner, blocks: blocks) }
        } else if let elements = Self.elements(value) {
            for element in elements { push(element, inner, blocks) }
        } else {
            push(value, inner, blocks)
        }
    }

    private mutating func push(_ value: Any, _ inner: [TemplateNode], _ blocks: [String: [TemplateNode]]) {
        stack.append(value)
        render(inner, blocks: blocks)
        stack.removeLast()
    }

    private func isFalsy(_ value: Any?) -> Bool {
        guard let value else { return true }
        let type = ObjectIdentifier(Swift.type(of: value))
        if type == Types.bool { return !(value as! Bool) }
        if type == Types.rows { return (value as! [[String: Any]]).isEmpty }
        if type == Types.list { return (value as! [Any]).isEmpty }
        if type == Types.strings { return (value as! [String]).isEmpty }
        if Types.isPlain(type) { return false }
        if case .optional(let wrapped) = Self.unwrap(value) { return isFalsy(wrapped) }
        if let elements = Self.elements(value) { return elements.isEmpty }
        return false
    }

    // MARK: names

    /// The first name is looked for from the innermost value outwards; the rest only inside what it found.
    private func resolve(_ name: TemplateName) -> Any? {
        guard let first = name.path.first else { return stack.last }
        var found: Any?
        for object in stack.reversed() {
            if let child = Self.child(first, of: object) {
                found = child
                break
            }
        }
        for key in name.path.dropFirst() {
            guard let object = found else { return nil }
            found = Self.child(key, of: object)
        }
        return found
    }

    private static func child(_ key: String, of object: Any) -> Any? {
        let type = ObjectIdentifier(Swift.type(of: object))
        if type == Types.dictionary { return (object as! [String: Any])[key] }
        if type == Types.flags { return (object as! [String: Bool])[key] }
        if type == Types.texts { return (object as! [String: String])[key] }
        if type == Types.messages { return (object as! [String: [String]])[key] }
        if Types.isPlain(type) || type == Types.bool { return nil }
        if case .optional(let wrapped) = unwrap(object) { return wrapped.flatMap { child(key, of: $0) } }
        let mirror = Mirror(reflecting: object)
        if mirror.displayStyle == .dictionary {
            for entry in mirror.children {
                let pair = Mirror(reflecting: entry.value).children.map(\.value)
                if pair.count == 2, let name = pair[0] as? String, name == key { return pair[1] }
            }
            return nil
        }
        return mirror.children.first { $0.label == key }?.value
    }

    private enum Unwrapped {
        case notOptional
        case optional(Any?)
    }

    /// An `Optional` inside an `Any` (a view model that stored one as it was).
    private static func unwrap(_ value: Any) -> Unwrapped {
        let mirror = Mirror(reflecting: value)
        guard mirror.displayStyle == .optional else { return .notOptional }
        return .optional(mirror.children.first?.value)
    }

    private static func elements(_ value: Any) -> [Any]? {
        let mirror = Mirror(reflecting: value)
        guard mirror.displayStyle == .collection || mirror.displayStyle == .set else { return nil }
        return mirror.children.map(\.value)
    }

    // MARK: output

    private mutating func append(_ value: Any, escaped: Bool) {
        let type = ObjectIdentifier(Swift.type(of: value))
        if type == Types.string {
            let text = value as! String
            escaped ? HTMLBytes.appendEscaped(text, to: &out) : HTMLBytes.append(text, to: &out)
        } else if type == Types.int {
            HTMLBytes.append(value as! Int, to: &out)
        } else if type == Types.bool {
            out.append(contentsOf: (value as! Bool) ? Self.trueText : Self.falseText)
        } else if type == Types.prepared {
            let html = value as! PreparedHTML
            for part in html.parts {
                escaped ? HTMLBytes.appendEscaped(String(decoding: part, as: UTF8.self), to: &out) : out.append(contentsOf: part)
            }
        } else if type == Types.uint64 {
            HTMLBytes.append(String(value as! UInt64), to: &out)
        } else if type == Types.int64 {
            HTMLBytes.append(String(value as! Int64), to: &out)
        } else if case .optional(let wrapped) = Self.unwrap(value) {
            if let wrapped { append(wrapped, escaped: escaped) }
        } else {
            let text = String(describing: value)
            escaped ? HTMLBytes.appendEscaped(text, to: &out) : HTMLBytes.append(text, to: &out)
        }
    }

    private static let trueText = Array("true".utf8), falseText = Array("false".utf8)

    /// A standalone partial's lines each start with the blanks that stood before its tag.
    private mutating func indent(from start: Int, with indentation: [UInt8]) {
        guard start < out.count else { return }
        var indented: [UInt8] = indentation
        for (offset, byte) in out[start...].enumerated() {
            indented.append(byte)
            if byte == UInt8(ascii: "\n"), start + offset + 1 < out.count { indented.append(contentsOf: indentation) }
        }
        out.replaceSubrange(start..., with: indented)
    }
}

/// The view models' containers, by type identity.
private enum Types {
    static let dictionary = ObjectIdentifier([String: Any].self)
    static let rows = ObjectIdentifier([[String: Any]].self)
    static let list = ObjectIdentifier([Any].self)
    static let strings = ObjectIdentifier([String].self)
    static let flags = ObjectIdentifier([String: Bool].self)
    static let texts = ObjectIdentifier([String: String].self)
    static let messages = ObjectIdentifier([String: [String]].self)
    static let string = ObjectIdentifier(String.self)
    static let int = ObjectIdentifier(Int.self)
    static let bool = ObjectIdentifier(Bool.self)
    static let uint64 = ObjectIdentifier(UInt64.self)
    static let int64 = ObjectIdentifier(Int64.self)
    static let prepared = ObjectIdentifier(PreparedHTML.self)

    /// Values that a section renders once, on top of the context (neither lists nor booleans nor optionals).
    static func isPlain(_ type: ObjectIdentifier) -> Bool {
        type == dictionary || type == string || type == int || type == flags || type == texts || type == messages
            || type == uint64 || type == int64 || type == prepared
    }
}

/// Markup made (and escaped) in Swift, in pieces that a `{{{...}}}` copies into the page as they
/// are, without joining them first.
struct PreparedHTML: Sendable {
    let parts: [ArraySlice<UInt8>]

    init(_ parts: [ArraySlice<UInt8>]) {
        self.parts = parts
    }

    var text: String { String(decoding: parts.joined(), as: UTF8.self) }
}

/// Text into UTF-8 HTML bytes.
enum HTMLBytes {
    /// Every `&`, `<`, `>`, `"` and `'` byte replaced, whatever surrounds it: the same rule as
    /// `HTMLEscaping.escape` (UTF-8 bytes, not `Character`s, so "\u{0600}<" keeps no bare `<`).
    static func appendEscaped(_ text: String, to out: inout [UInt8]) {
        var text = text
        text.withUTF8 { bytes in
            var runStart = 0
            for index in 0..<bytes.count {
                let replacement: StaticString
                switch bytes[index] {
                case UInt8(ascii: "&"): replacement = "&amp;"
                case UInt8(ascii: "<"): replacement = "&lt;"
                case UInt8(ascii: ">"): replacement = "&gt;"
                case UInt8(ascii: "\""): replacement = "&quot;"
                case UInt8(ascii: "'"): replacement = "&#39;"
                default: continue
                }
                if runStart < index { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index])) }
                out.append(contentsOf: UnsafeBufferPointer(start: replacement.utf8Start, count: replacement.utf8CodeUnitCount))
                runStart = index + 1
            }
            if runStart < bytes.count { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart...])) }
        }
    }

    static func append(_ text: String, to out: inout [UInt8]) {
        var text = text
        text.withUTF8 { out.append(contentsOf: $0) }
    }

    static func append(_ number: Int, to out: inout [UInt8]) {
        if number >= 0 && number < 10 {
            out.append(UInt8(ascii: "0") + UInt8(number))
        } else {
            append(String(number), to: &out)
        }
    }
}
