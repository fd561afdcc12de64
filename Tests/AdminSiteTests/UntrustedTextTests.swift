import Domain
import Foundation
import Testing
import TestSupport
import WebServer

/// Text that visitors, guests or old databases put in the store reaches pages only escaped,
/// whatever Unicode it is wrapped in (issue 11).
@Suite("Stored and typed text on pages")
struct UntrustedTextTests {
    /// Each payload hides markup inside one grapheme cluster: a prepended mark before `<`, a
    /// combining accent after `"`, an accent inside an end tag.
    static let payloads = ["\u{0600}<b>", "x\"\u{0301} onmouseover=", "</textarea\u{0301}>"]
    static let rawFragments = ["<b>", "\"\u{0301}", "</textarea\u{0301}", "\u{0600}<"]

    /// Escaping per Unicode scalar, as the pages must do it.
    static func escaped(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// Byte search: `String.contains` compares grapheme clusters and would miss "<b>" after U+0600.
    static func bytes(_ html: String, contain needle: String) -> Bool {
        let haystack = Array(html.utf8), pattern = Array(needle.utf8)
        guard !pattern.isEmpty, haystack.count >= pattern.count else { return false }
        return (0...(haystack.count - pattern.count)).contains { start in
            haystack[start..<start + pattern.count].elementsEqual(pattern)
        }
    }

    static func expectSafe(_ html: String, showing payload: String, on page: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(!bytes(html, contain: payload), "\(page) prints the payload raw", sourceLocation: sourceLocation)
        for fragment in rawFragments {
            #expect(!bytes(html, contain: fragment), "\(page) contains \(fragment.debugDescription)", sourceLocation: sourceLocation)
        }
        #expect(bytes(html, contain: escaped(payload)), "\(page) does not show the text escaped", sourceLocation: sourceLocation)
    }

    /// A network and a VM whose names and notes, a reservation and a lease whose host names, all
    /// carry `payload`; stored directly, as an older vnetd or an import might have left them.
    struct Stored {
        let site: SiteFixture
        let network: String
        let vm = "0000000000000000000000000000000b"

        init(_ payload: String) throws {
            site = try SiteFixture()
            network = try site.networks.create(NetworkDraft(name: "Plain", adapter: nil, notes: "")).id.rawValue
            #expect(site.post("/networks/\(network)/dhcp", [
                ("action", "save"), ("version", "0"), ("enabled", "on"), ("network", "192.168.140.0"), ("mask", "255.255.255.0"),
                ("rangeStart", "192.168.140.16"), ("rangeEnd", "192.168.140.254"), ("server", "192.168.140.1"),
                ("leaseTime", "3600"), ("renewalTime", "1800"), ("rebindingTime", "3150"),
            ]).status == 303)
            let sql = payload.replacingOccurrences(of: "'", with: "''")
            try site.database.writeForTests("""
                UPDATE network SET name = 'Net \(sql)', name_key = 'net', notes = 'Notes \(sql)' WHERE id = '\(network)';
                INSERT INTO vm (id, name, name_key, notes, created_at, changed_at) VALUES ('\(vm)', 'VM \(sql)', 'vm', 'VM notes \(sql)', 0, 0);
                INSERT INTO nic (id, vm_id, slot, network_id, mac) VALUES ('0000000000000000000000000000000c', '\(vm)', 1, '\(network)', '00:03:ff:00:00:01');
                INSERT INTO dhcp_reservation (network_id, mac, address, host_name) VALUES ('\(network)', '00:03:ff:00:00:09', '192.168.140.50', 'res\(sql)');
                INSERT INTO dhcp_lease (network_id, address, mac, client_id, host_name, expires_at)
                    VALUES ('\(network)', '192.168.140.20', '00:03:ff:00:00:01', X'01', 'guest\(sql)' || char(27) || '[31m' || char(7) || char(10), 1900000000000);
                """)
        }
    }

    @Test(arguments: payloads)
    func everyPageShowingStoredTextEscapesItPerScalar(payload: String) throws {
        let stored = try Stored(payload)
        let site = stored.site
        #expect(site.signIn("Sign \(payload)", password: "wrong").status == 403)
        let pages = [
            "/", "/events", "/networks", "/networks/\(stored.network)", "/networks/\(stored.network)/settings",
            "/networks/\(stored.network)/dhcp", "/networks/\(stored.network)/remove", "/vms", "/vms/new",
            "/vms/\(stored.vm)", "/vms/\(stored.vm)/settings", "/vms/\(stored.vm)/nics", "/vms/\(stored.vm)/nics?remove=1",
            "/vms/\(stored.vm)/remove",
        ]
        for path in pages {
            let page = site.get(path)
            #expect(page.status == 200, "\(path)")
            Self.expectSafe(page.bodyText, showing: payload, on: path)
        }
    }

    @Test(arguments: payloads)
    func guestHostNamesAreShownWithoutControlCharactersAndStoredAsSent(payload: String) throws {
        let stored = try Stored(payload)
        for path in ["/networks/\(stored.network)/dhcp", "/networks/\(stored.network)"] {
            let html = stored.site.get(path).bodyText
            #expect(UntrustedTextTests.bytes(html, contain: "guest" + UntrustedTextTests.escaped(payload) + "[31m"), "\(path)")
            #expect(!html.unicodeScalars.contains { $0 == "\u{1B}" || $0 == "\u{07}" }, "\(path)")
        }
        let leases = try stored.site.store.read { try $0.leases(of: NetworkID(rawValue: stored.network)) }
        #expect(leases.first?.hostName == "guest\(payload)\u{1B}[31m\u{07}\n")
    }

    @Test(arguments: payloads)
    func typedTextEchoedInRefusedFormsIsEscaped(payload: String) throws {
        let site = try SiteFixture()
        let network = site.post("/networks", [("name", "Net \(payload)"), ("adapter", ""), ("notes", "Notes \(payload)")])
        #expect(network.status == 422, "names with < > or \" inside a cluster are refused")
        Self.expectSafe(network.bodyText, showing: payload, on: "POST /networks")
        let vm = site.post("/vms", [("name", "VM \(payload)"), ("notes", "VM notes \(payload)")])
        #expect(vm.status == 422)
        Self.expectSafe(vm.bodyText, showing: payload, on: "POST /vms")
        site.forgetCookie("vnetd_session")
        let signIn = site.signIn("Sign \(payload)", password: "wrong")
        #expect(signIn.status == 403)
        Self.expectSafe(signIn.bodyText, showing: payload, on: "POST /login")
    }

    @Test func htmlEscapingWorksPerScalar() {
        for payload in Self.payloads {
            #expect(HTMLEscaping.escape(payload).unicodeScalars.elementsEqual(Self.escaped(payload).unicodeScalars))
        }
        #expect(HTMLEscaping.escape("a&b'c") == "a&amp;b&#39;c")
    }
}
