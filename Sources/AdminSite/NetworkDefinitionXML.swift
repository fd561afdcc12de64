import Domain
import Foundation
import Packets
#if canImport(FoundationXML)
import FoundationXML
#endif

/// The export format of a virtual network, in the spirit of Virtual Server's `.vnc` files.
/// Documented in docs/network-definition.md. Unknown elements are ignored on import, so files
/// written by newer versions still load; external entities are never resolved.
public enum NetworkDefinitionXML {
    static let namespace = "urn:vnetd:virtual-network:1"
    static let maximumSize = 256 << 10

    public static func encode(_ definition: NetworkDefinition) -> String {
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        xml += "<virtual_network xmlns=\"\(namespace)\" format=\"1\">\n"
        xml += "  <name>\(escape(definition.name))</name>\n"
        if let adapter = definition.kind.adapterName {
            xml += "  <host_adapter>\(escape(adapter))</host_adapter>\n"
        } else {
            xml += "  <host_adapter/>\n"
        }
        xml += "  <notes>\(escape(definition.notes))</notes>\n"
        if let dhcp = definition.dhcp {
            xml += "  <dhcp_server enabled=\"\(dhcp.isEnabled)\">\n"
            let fields: [(String, String)] = [
                ("network", dhcp.network.description), ("mask", dhcp.mask.description), ("range_start", dhcp.rangeStart.description),
                ("range_end", dhcp.rangeEnd.description), ("server", dhcp.server.description), ("gateway", dhcp.gateway?.description ?? ""),
                ("dns_servers", dhcp.dnsServers.map(\.description).joined(separator: ", ")),
                ("wins_servers", dhcp.winsServers.map(\.description).joined(separator: ", ")),
                ("lease_time", String(dhcp.leaseTime)), ("renewal_time", String(dhcp.renewalTime)), ("rebinding_time", String(dhcp.rebindingTime)),
            ]
            for (name, value) in fields { xml += "    <\(name)>\(escape(value))</\(name)>\n" }
            for reservation in dhcp.reservations {
                xml += "    <reservation mac=\"\(reservation.mac)\" address=\"\(reservation.address)\" host_name=\"\(escape(reservation.hostName))\"/>\n"
            }
            xml += "  </dhcp_server>\n"
        }
        xml += "</virtual_network>\n"
        return xml
    }

    public static func decode(_ bytes: [UInt8]) throws -> NetworkDefinition {
        guard !bytes.isEmpty else { throw invalid("The file is empty.") }
        guard bytes.count <= maximumSize else { throw invalid("The file is larger than a network definition can be.") }
        // Definitions are UTF-8. Checked here, before the parser: FoundationXML traps on element
        // names that are not valid UTF-8 (found by fuzz/FuzzNetworkDefinition), which would take
        // the whole server down with it.
        guard String(validating: bytes, as: UTF8.self) != nil else {
            throw invalid("The file is not UTF-8 text.")
        }
        if let declaration = bytes.prefix(200).split(separator: UInt8(ascii: ">")).first.map({ String(decoding: $0, as: UTF8.self).lowercased() }),
           declaration.hasPrefix("<?xml"), let encoding = declaration.firstMatch(of: /encoding\s*=\s*["']([^"']*)["']/)?.1,
           encoding != "utf-8", encoding != "utf8" {
            throw invalid("The file declares the encoding \(encoding); network definitions are UTF-8.")
        }
        let reader = Reader()
        let parser = XMLParser(data: Data(bytes))
        parser.shouldResolveExternalEntities = false
        parser.shouldProcessNamespaces = true
        parser.delegate = reader
        guard parser.parse(), reader.failure == nil else {
            throw reader.failure ?? invalid("The file is not well-formed XML (line \(parser.lineNumber)).")
        }
        guard reader.sawRoot else { throw invalid("The file is not a vnetd network definition: its root element must be <virtual_network>.") }
        guard let name = reader.values["name"] else { throw invalid("The definition has no <name>.") }
        let adapter = reader.values["host_adapter"]?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        var dhcp: DHCPSettings?
        if reader.sawDHCP {
            let values = reader.dhcpValues
            let draft = DHCPDraft(
                isEnabled: reader.dhcpEnabled, network: values["network"] ?? "", mask: values["mask"] ?? "",
                rangeStart: values["range_start"] ?? "", rangeEnd: values["range_end"] ?? "", server: values["server"] ?? "",
                gateway: values["gateway"] ?? "", dnsServers: values["dns_servers"] ?? "", winsServers: values["wins_servers"] ?? "",
                leaseTime: values["lease_time"] ?? "", renewalTime: values["renewal_time"] ?? "", rebindingTime: values["rebinding_time"] ?? "")
            switch DHCPRules.settings(from: draft) {
            case .failure(let failure):
                throw ValidationFailure(failure.problems.map { Problem($0.code, field: "file", "DHCP settings in the file: \($0.message)") })
            case .success(var settings):
                for attributes in reader.reservations {
                    guard let mac = attributes["mac"].flatMap(MACAddress.init(parsing:)), let address = attributes["address"].flatMap(IPv4Address.init(parsing:)) else {
                        throw invalid("A DHCP reservation in the file has no valid mac or address attribute.")
                    }
                    settings.reservations.append(DHCPReservation(mac: mac, address: address, hostName: attributes["host_name"] ?? ""))
                }
                dhcp = settings
            }
        }
        return NetworkDefinition(
            name: name, kind: adapter.isEmpty ? .guestOnly : .external(adapter: adapter),
            notes: reader.values["notes"] ?? "", dhcp: dhcp)
    }

    static func invalid(_ message: String) -> ValidationFailure {
        ValidationFailure(.definitionInvalid, field: "file", message)
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
            default:
                // Control characters cannot appear in XML 1.0 at all; notes never need them.
                if scalar.value < 0x20 { continue }
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// Collects the text of the root's direct children.
    private final class Reader: NSObject, XMLParserDelegate {
        var values: [String: String] = [:]
        var dhcpValues: [String: String] = [:]
        var reservations: [[String: String]] = []
        var sawDHCP = false
        var dhcpEnabled = false
        var sawRoot = false
        var failure: ValidationFailure?
        private var depth = 0
        private var current: String?
        private var text = ""

        func parser(_ parser: XMLParser, didStartElement element: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
            depth += 1
            if depth == 1 {
                guard element == "virtual_network" else {
                    failure = NetworkDefinitionXML.invalid("The file is not a vnetd network definition: its root element is <\(element)>, not <virtual_network>.")
                    parser.abortParsing()
                    return
                }
                sawRoot = true
                if let format = attributes["format"], format != "1" {
                    failure = NetworkDefinitionXML.invalid("The definition uses format \(format); this vnetd reads format 1.")
                    parser.abortParsing()
                }
            } else if depth == 2 {
                current = element
                text = ""
                if element == "dhcp_server" {
                    sawDHCP = true
                    dhcpEnabled = attributes["enabled"] == "true"
                }
            } else if depth == 3, current == "dhcp_server" {
                if element == "reservation" { reservations.append(attributes) }
                dhcpField = element
                text = ""
            }
        }

        private var dhcpField: String?

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            if depth == 2 || (depth == 3 && dhcpField != nil) { text += string }
        }

        func parser(_ parser: XMLParser, didEndElement element: String, namespaceURI: String?, qualifiedName: String?) {
            if depth == 3, let field = dhcpField {
                dhcpValues[field] = text
                dhcpField = nil
            } else if depth == 2, let current {
                if current != "dhcp_server" { values[current] = text }
                self.current = nil
            }
            depth -= 1
        }
    }
}
