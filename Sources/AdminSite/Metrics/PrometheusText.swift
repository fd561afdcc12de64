/// Prometheus' text exposition format (version 0.0.4): each metric family once, as
/// `# HELP`, `# TYPE` and its samples, label values escaped (`\\`, `\"`, `\n`).
/// Families are written in the order they are first given; samples of one family stay together.
struct PrometheusText {
    enum Kind: String { case counter, gauge }

    private struct Family {
        let help: String
        let kind: Kind
        var samples: [String] = []
    }

    private var order: [String] = []
    private var families: [String: Family] = [:]

    mutating func add(_ name: String, _ kind: Kind, _ help: String, _ labels: KeyValuePairs<String, String> = [:], _ value: Double) {
        if families[name] == nil {
            order.append(name)
            families[name] = Family(help: help, kind: kind)
        }
        var line = name
        if !labels.isEmpty {
            line += "{" + labels.map { "\($0.key)=\"\(Self.escapeLabel($0.value))\"" }.joined(separator: ",") + "}"
        }
        line += " " + Self.format(value)
        families[name]?.samples.append(line)
    }

    mutating func add(_ name: String, _ kind: Kind, _ help: String, _ labels: KeyValuePairs<String, String> = [:], _ value: UInt64) {
        add(name, kind, help, labels, Double(value))
    }

    mutating func add(_ name: String, _ kind: Kind, _ help: String, _ labels: KeyValuePairs<String, String> = [:], _ value: Int) {
        add(name, kind, help, labels, Double(value))
    }

    var text: String {
        var out = ""
        for name in order {
            guard let family = families[name] else { continue }
            out += "# HELP \(name) \(Self.escapeHelp(family.help))\n# TYPE \(name) \(family.kind.rawValue)\n"
            for sample in family.samples { out += sample + "\n" }
        }
        return out
    }

    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }

    static func escapeLabel(_ value: String) -> String {
        var out = ""
        for character in value.unicodeScalars {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(character)
            }
        }
        return out
    }

    static func escapeHelp(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
    }
}
