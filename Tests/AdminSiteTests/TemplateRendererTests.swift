import AdminSite
import Foundation
import Testing
import TestSupport

/// The site's Mustache renderer on templates made here: what each tag means, the lines a
/// standalone tag takes away, escaping per byte, and templates refused at start.
@Suite("Template renderer")
struct TemplateRendererTests {
    func renderer(_ templates: [String: String]) throws -> (TemplateRenderer, TemporaryDirectory) {
        let folder = try TemporaryDirectory()
        var all = templates
        if all["layout"] == nil { all["layout"] = "<main>{{$content}}default{{/content}}</main>" }
        for (name, text) in all {
            let path = folder.path + "/" + name + ".mustache"
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        }
        return (try TemplateRenderer(directory: folder.path), folder)
    }

    func render(_ template: String, _ context: [String: Any], partials: [String: String] = [:]) throws -> String {
        let (renderer, folder) = try renderer(partials.merging(["page": template]) { a, _ in a })
        _ = folder
        return try renderer.render("page", context)
    }

    @Test func variablesAreEscapedPerByteEvenInsideAGraphemeCluster() throws {
        // "\u{0600}<" is one Character: an escaper that compares Characters with "<" lets it through.
        let text = try render("{{a}}|{{{a}}}|{{&a}}", ["a": "\u{0600}<b>\"x\"'&\u{0301}"])
        #expect(text == "\u{0600}&lt;b&gt;&quot;x&quot;&#39;&amp;\u{0301}|\u{0600}<b>\"x\"'&\u{0301}|\u{0600}<b>\"x\"'&\u{0301}")
    }

    @Test func valuesMeanWhatTheyMeantUnderSwiftMustache() throws {
        let context: [String: Any] = [
            "rows": [["n": 1], ["n": 2]] as [[String: Any]], "none": [[String: Any]](), "strings": ["x", "y"],
            "yes": true, "no": false, "zero": 0, "empty": "", "big": UInt64(1) << 40, "maybe": Optional<String>.none as Any,
            "some": Optional("s") as Any, "flags": ["on": true], "errors": ["name": ["bad", "worse"]],
            "outer": "O", "inner": ["label": "I"] as [String: Any],
        ]
        #expect(try render("{{#rows}}[{{n}}]{{/rows}}{{^none}}none{{/none}}{{#strings}}<{{.}}>{{/strings}}", context) == "[1][2]none<x><y>")
        #expect(try render("{{#yes}}Y{{/yes}}{{#no}}N{{/no}}{{^no}}!N{{/no}}{{^yes}}!Y{{/yes}}", context) == "Y!N")
        #expect(try render("{{#zero}}0 is shown{{/zero}}{{#empty}}'' is shown{{/empty}}{{^missing}}missing is not{{/missing}}", context)
                == "0 is shown'' is shownmissing is not")
        #expect(try render("{{big}} {{zero}} {{yes}} [{{maybe}}] [{{some}}] [{{missing}}]", context) == "1099511627776 0 true [] [s] []")
        #expect(try render("{{#flags.on}}on{{/flags.on}}{{#errors.name}}({{.}}){{/errors.name}}", context) == "on(bad)(worse)")
        #expect(try render("{{#inner}}{{label}} inside {{outer}}{{/inner}}", context) == "I inside O", "names are looked for outwards")
        #expect(try render("{{#inner}}{{inner.label}}{{/inner}}{{#rows}}{{inner.label}}{{/rows}}", context) == "III")
        #expect(try render("{{^maybe}}nil{{/maybe}}{{#some}}{{.}}{{/some}}", context) == "nils")
    }

    @Test func aTagAloneOnItsLineTakesTheLineWithIt() throws {
        let text = try render("<ul>\n  {{#rows}}\n  <li>{{n}}</li>\n  {{/rows}}\n  {{! a comment }}\n</ul>\n{{> part}}\nend", [
            "rows": [["n": 1], ["n": 2]] as [[String: Any]],
        ], partials: ["part": "<p>\n{{#yes}}\nyes\n{{/yes}}\n</p>\n"])
        #expect(text == "<ul>\n  <li>1</li>\n  <li>2</li>\n</ul>\n<p>\n</p>\nend")
        #expect(try render("a {{#yes}}b{{/yes}} c\n", ["yes": true]) == "a b c\n", "a tag beside text keeps its line")
        #expect(try render("  {{> part}}\n", [:], partials: ["part": "one\ntwo\n"]) == "  one\n  two\n", "an indented partial is indented")
    }

    @Test func parentsAndBlocks() throws {
        let (renderer, folder) = try renderer([
            "page": "{{<layout}}\n{{$content}}\n<h1>{{title}}</h1>\n{{/content}}\n{{/layout}}\n",
            "plain": "{{<layout}}{{/layout}}",
        ])
        _ = folder
        #expect(try renderer.render("page", ["title": "T"]) == "<main><h1>T</h1>\n</main>")
        #expect(try renderer.render("plain", [:]) == "<main>default</main>", "a block not given keeps its default")
        #expect(throws: (any Error).self) { try renderer.render("nothing", [:]) }
    }

    @Test func brokenTemplatesStopTheStart() throws {
        for (template, reason) in [
            ("{{#a}}open", "is never closed"), ("{{#a}}x{{/b}}", "was expected"), ("{{/a}}", "closes nothing"),
            ("{{> missing}}", "includes missing"), ("{{a", "is not closed"), ("{{=<% %>=}}", "delimiters"),
        ] {
            #expect {
                _ = try renderer(["page": template])
            } throws: { error in
                String(describing: error).contains(reason)
            }
        }
    }
}
