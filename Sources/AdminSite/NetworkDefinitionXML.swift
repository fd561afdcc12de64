import Domain
import Foundation
import Packets
import CXML

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
        xml += hostNetworkXML(definition)
        if let dhcp = definition.dhcp {
            xml += "  <dhcp_server enabled=\"\(dhcp.isEnabled)\">\n"
            let fields: [(String, String)] = [
                ("network", dhcp.network.description), ("mask", dhcp.mask.description), ("range_start", dhcp.rangeStart.description),
                ("range_end", dhcp.rangeEnd.description), ("server", dhcp.server.description), ("gateway", dhcp.gateway?.description ?? ""),
                ("dns_servers", dhcp.dnsServers.map(\.description).joined(separator: ", ")),
                ("wins_servers", dhcp.winsServers.map(\.description).joined(separator: ", ")),
                ("lease_time", String(dhcp.leaseTime)), ("renewal_time", String(dhcp.renewalTime)), ("rebinding_time", String(dhcp.rebindingTime)),
                ("domain_name", dhcp.domainName ?? ""), ("search_domains", dhcp.searchDomains.joined(separator: ", ")),
                ("classless_routes", dhcp.classlessRoutes.map(\.description).joined(separator: ", ")), ("mtu", dhcp.mtu.map(String.init) ?? ""),
                ("ntp_servers", dhcp.ntpServers.map(\.description).joined(separator: ", ")), ("next_server", dhcp.boot.nextServer?.description ?? ""),
                ("bios_boot_file", dhcp.boot.biosFile ?? ""), ("uefi_boot_file", dhcp.boot.uefiFile ?? ""), ("ipxe_boot_file", dhcp.boot.ipxeFile ?? ""),
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
        // Definitions are UTF-8, and say so or nothing; anything else is refused before parsing.
        guard String(validating: bytes, as: UTF8.self) != nil else {
            throw invalid("The file is not UTF-8 text.")
        }
        if let declaration = bytes.prefix(200).split(separator: UInt8(ascii: ">")).first.map({ String(decoding: $0, as: UTF8.self).lowercased() }),
           declaration.hasPrefix("<?xml"), let encoding = declaration.firstMatch(of: /encoding\s*=\s*["']([^"']*)["']/)?.1,
           encoding != "utf-8", encoding != "utf8" {
            throw invalid("The file declares the encoding \(encoding); network definitions are UTF-8.")
        }
        guard bytes.firstRange(of: Array("<!DOCTYPE".utf8)) == nil else {
            throw invalid("The file contains a DOCTYPE; network definitions use no DTDs or entities.")
        }
        let reader = try Reader(bytes)
        guard reader.sawRoot else { throw invalid("The file is not a vnetd network definition: its root element must be <virtual_network>.") }
        guard let name = reader.values["name"] else { throw invalid("The definition has no <name>.") }
        let adapter = reader.values["host_adapter"]?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        let (kind, hostInterface, forwards) = try hostNetwork(reader, adapter: adapter)
        var dhcp: DHCPSettings?
        if reader.sawDHCP {
            let values = reader.dhcpValues
            let draft = DHCPDraft(
                isEnabled: reader.dhcpEnabled, network: values["network"] ?? "", mask: values["mask"] ?? "",
                rangeStart: values["range_start"] ?? "", rangeEnd: values["range_end"] ?? "", server: values["server"] ?? "",
                gateway: values["gateway"] ?? "", dnsServers: values["dns_servers"] ?? "", winsServers: values["wins_servers"] ?? "",
                leaseTime: values["lease_time"] ?? "", renewalTime: values["renewal_time"] ?? "", rebindingTime: values["rebinding_time"] ?? "",
                domainName: values["domain_name"] ?? "", searchDomains: values["search_domains"] ?? "", classlessRoutes: values["classless_routes"] ?? "",
                mtu: values["mtu"] ?? "", ntpServers: values["ntp_servers"] ?? "", nextServer: values["next_server"] ?? "",
                biosBootFile: values["bios_boot_file"] ?? "", uefiBootFile: values["uefi_boot_file"] ?? "", ipxeBootFile: values["ipxe_boot_file"] ?? "")
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
            name: name, kind: kind, notes: reader.values["notes"] ?? "", dhcp: dhcp, hostInterface: hostInterface, portForwards: forwards)
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
            // A raw CR would come back as LF (XML parsers normalise line ends); a reference stays CR.
            case "\r": out += "&#13;"
            case "\t", "\n": out.unicodeScalars.append(scalar)
            default:
                // XML 1.0 cannot carry these at all; the rules refuse them in names and notes, so
                // only text stored before those rules can hold them, and it exports without them.
                if scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF { continue }
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// The root's direct children, read from libxml2's tree: each child's own text (not its
    /// descendants'), and the DHCP server's fields and reservations. A repeated element keeps its
    /// last value.
    private struct Reader: HostNetworkValues {
        var values: [String: String] = [:]
        var dhcpValues: [String: String] = [:]
        var reservations: [[String: String]] = []
        var sawDHCP = false
        /// `<host_interface>`'s attributes, and each `<port_forward>`'s.
        var hostInterface: [String: String]?
        var portForwards: [[String: String]] = []
        var dhcpEnabled = false
        var sawRoot = false

        init(_ bytes: [UInt8]) throws {
            var errorLine: Int32 = 0
            let document = bytes.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) { vnetd_xml_parse($0.baseAddress, Int32(buffer.count), &errorLine) }
            }
            guard let document else {
                throw NetworkDefinitionXML.invalid("The file is not well-formed XML (line \(errorLine)).")
            }
            defer { vnetd_xml_free(document) }
            guard let root = vnetd_xml_root(document) else {
                throw NetworkDefinitionXML.invalid("The file is not a vnetd network definition: its root element must be <virtual_network>.")
            }
            let rootName = String(cString: vnetd_xml_name(root))
            guard rootName == "virtual_network" else {
                throw NetworkDefinitionXML.invalid("The file is not a vnetd network definition: its root element is <\(rootName)>, not <virtual_network>.")
            }
            sawRoot = true
            if let format = Self.attribute(root, "format"), format != "1" {
                throw NetworkDefinitionXML.invalid("The definition uses format \(format); this vnetd reads format 1.")
            }
            for child in Self.elements(of: root) {
                let name = String(cString: vnetd_xml_name(child))
                if name == "host_interface" {
                    hostInterface = Dictionary(uniqueKeysWithValues: ["address", "ipv6_prefix", "nat_outbound"].compactMap { key in Self.attribute(child, key).map { (key, $0) } })
                    continue
                }
                if name == "port_forward" {
                    portForwards.append(Dictionary(uniqueKeysWithValues: ["protocol", "host_address", "host_port", "mac", "guest_port"].compactMap { key in
                        Self.attribute(child, key).map { (key, $0) }
                    }))
                    continue
                }
                guard name == "dhcp_server" else {
                    values[name] = Self.ownText(child)
                    continue
                }
                sawDHCP = true
                dhcpEnabled = Self.attribute(child, "enabled") == "true"
                for field in Self.elements(of: child) {
                    let fieldName = String(cString: vnetd_xml_name(field))
                    if fieldName == "reservation" {
                        var attributes: [String: String] = [:]
                        for key in ["mac", "address", "host_name"] { attributes[key] = Self.attribute(field, key) }
                        reservations.append(attributes)
                    } else {
                        dhcpValues[fieldName] = Self.ownText(field)
                    }
                }
            }
        }

        static func elements(of node: OpaquePointer) -> [OpaquePointer] {
            var found: [OpaquePointer] = []
            var next = vnetd_xml_first_element(node)
            while let current = next {
                found.append(current)
                next = vnetd_xml_next_element(current)
            }
            return found
        }

        static func ownText(_ node: OpaquePointer) -> String {
            guard let text = vnetd_xml_own_text(node) else { return "" }
            defer { free(text) }
            return String(cString: text)
        }

        static func attribute(_ node: OpaquePointer, _ name: String) -> String? {
            guard let value = vnetd_xml_attribute(node, name) else { return nil }
            defer { free(value) }
            return String(cString: value)
        }
    }
}
