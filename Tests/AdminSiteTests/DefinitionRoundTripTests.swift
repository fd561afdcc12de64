import AdminSite
import Domain
import Foundation
import Packets
import Testing

/// One scalar as text; Swift string literals refuse noncharacters such as U+FFFF.
func scalar(_ value: UInt32) -> String {
    Unicode.Scalar(value).map { String(Character($0)) } ?? ""
}

/// SplitMix64: a small seeded generator, so a failing case can be replayed from its seed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The import applies the rules the pages apply, and whatever vnetd accepts survives export
/// and import unchanged.
@Suite("Network definitions: one set of rules, exact round trips")
struct DefinitionRoundTripTests {
    /// Text that has broken XML writers and readers: combining marks, ZWJ sequences, bidi
    /// controls, both Unicode normal forms, line ends, markup characters.
    static let pieces: [String] = [
        "a", "Lab", "Réseau", "e\u{301}", "\u{E9}", "\u{301}", "\u{200D}", "👩\u{200D}💻", "👨\u{200D}👩\u{200D}👧", "🏳️‍🌈",
        "\u{202E}", "\u{2066}", "\u{200F}", "\u{061C}", "\u{E000}", "\u{FEFF}",
        "\u{2028}", "\r\n", "\r", "\n", "\t", " ", "\u{A0}", "\u{3000}",
        "&", "&amp;", "]]>", "'", "\u{0600}", "日本", "\u{1100}\u{1161}", "%41", "#", "-", "_", "0",
    ]
    /// What XML 1.0 cannot carry, and the other controls: create must refuse or keep them exactly.
    static let hostilePieces: [String] = [scalar(0xFFFE), scalar(0xFFFF), scalar(0xFDD0), scalar(0x10FFFF), "\u{1}", "\u{7}", "\u{1B}", "\u{1F}", "\u{7F}", "\u{85}"]

    static func text(_ generator: inout SeededGenerator, pieces count: ClosedRange<Int>) -> String {
        (0..<Int.random(in: count, using: &generator)).map { _ in
            let pool = Int.random(in: 0..<25, using: &generator) == 0 ? hostilePieces : pieces
            return pool.randomElement(using: &generator) ?? "a"
        }.joined()
    }

    static let hostNames = ["db", "web-1", "", "A1", "bad name", "dot.ted", "é", String(repeating: "h", count: 64), " spaced "]

    /// Both definitions without the version counter, which a new network starts afresh.
    static func comparable(_ definition: NetworkDefinition) -> NetworkDefinition {
        var copy = definition
        copy.dhcp?.version = 0
        return copy
    }

    @Test func anyNetworkVnetdAcceptsExportsToAFileThatImportsToAnEqualNetwork() throws {
        let site = try SiteFixture()
        var generator = SeededGenerator(seed: 0x5EED_0008)
        var accepted = 0
        for round in 0..<400 {
            let name = Self.text(&generator, pieces: 1...6)
            let notes = Self.text(&generator, pieces: 0...12)
            guard let network = try? site.networks.create(NetworkDraft(name: name, adapter: nil, notes: notes)) else { continue }
            accepted += 1
            if Bool.random(using: &generator) {
                var draft = DHCPDraft(try site.dhcp.settings(of: network.id))
                draft.isEnabled = Bool.random(using: &generator)
                var settings = try site.dhcp.update(network.id, version: 0, draft)
                for _ in 0..<Int.random(in: 0...4, using: &generator) {
                    let mac = "00-03-FF-00-\(String(format: "%02X", Int.random(in: 0...255, using: &generator)))-01"
                    let address = IPv4Address(value: settings.network.value + UInt32.random(in: 0...255, using: &generator))
                    let hostName = Self.hostNames.randomElement(using: &generator) ?? ""
                    if let saved = try? site.dhcp.addReservation(
                        to: network.id, version: settings.version, mac: mac, address: address.description, hostName: hostName) {
                        settings = saved
                    }
                }
            }
            let original = try site.networks.definition(of: network.id)
            let file = Array(NetworkDefinitionXML.encode(original).utf8)
            let decoded: NetworkDefinition
            do {
                decoded = try NetworkDefinitionXML.decode(file)
            } catch {
                Issue.record("round \(round): the export of \(original.name.unicodeScalars.map { String($0.value, radix: 16) }) does not import: \(error)")
                try site.networks.remove(network.id)
                continue
            }
            #expect(Self.comparable(decoded) == Self.comparable(original), "round \(round): \(String(reflecting: original.name)) \(String(reflecting: original.notes))")
            try site.networks.remove(network.id)
            do {
                let imported = try site.networks.importDefinition(decoded)
                #expect(Self.comparable(try site.networks.definition(of: imported.id)) == Self.comparable(original), "round \(round)")
                try site.networks.remove(imported.id)
            } catch {
                Issue.record("round \(round): vnetd refuses to import what it exported: \(error)")
            }
        }
        #expect(accepted > 150, "the generator must mostly make acceptable networks")
    }

    @Test(arguments: ["Lab" + scalar(0xFFFF), scalar(0xFFFE) + "Lab", "La\u{1}b", "Lab\u{7F}"])
    func aNameXMLCannotCarryIsRefusedWhenCreated(name: String) throws {
        let site = try SiteFixture()
        #expect {
            try site.networks.create(NetworkDraft(name: name, adapter: nil, notes: ""))
        } throws: { error in
            (error as? ValidationFailure)?.problems.contains { $0.field == "name" && $0.message.contains("control characters") } == true
        }
    }

    @Test(arguments: ["a" + scalar(0xFFFF), scalar(0xFFFE), "bell\u{7}", "esc\u{1B}[31m", "nul\u{0}"])
    func notesXMLCannotCarryAreRefused(notes: String) throws {
        let site = try SiteFixture()
        #expect {
            try site.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: notes))
        } throws: { error in
            (error as? ValidationFailure)?.problems.contains { $0.field == "notes" && $0.message.contains("U+FFFF") } == true
        }
        let page = site.post("/networks", [("name", "Lab"), ("notes", notes)])
        #expect(page.status == 422)
        #expect(try site.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: "tab\there\r\nline\rend")).notes == "tab\there\r\nline\rend")
    }

    static func definition(reserving reservations: [DHCPReservation]) -> NetworkDefinition {
        var settings = DHCPSettings.defaults(for: IPv4Address(192, 168, 140, 0))
        settings.reservations = reservations
        return NetworkDefinition(name: "Imported", kind: .guestOnly, notes: "", dhcp: settings)
    }

    static let mac = MACAddress(value: 0x0003_FF00_0009)

    @Test(arguments: [
        (DHCPReservation(mac: mac, address: IPv4Address(192, 168, 140, 255), hostName: "db"), "192.168.140.255"),
        (DHCPReservation(mac: mac, address: IPv4Address(192, 168, 140, 0), hostName: "db"), "192.168.140.0"),
        (DHCPReservation(mac: mac, address: IPv4Address(192, 168, 140, 1), hostName: "db"), "192.168.140.1"),
        (DHCPReservation(mac: mac, address: IPv4Address(192, 168, 141, 9), hostName: "db"), "192.168.141.9"),
        (DHCPReservation(mac: mac, address: IPv4Address(192, 168, 140, 50), hostName: "bad name!"), "host name"),
        (DHCPReservation(mac: mac, address: IPv4Address(192, 168, 140, 50), hostName: String(repeating: "h", count: 64)), "host name"),
        (DHCPReservation(mac: MACAddress(value: 0x0100_5E00_0001), address: IPv4Address(192, 168, 140, 50), hostName: "db"), "unicast"),
    ])
    func anImportedReservationMeetsTheDHCPPagesRules(reservation: DHCPReservation, mentioning: String) throws {
        let site = try SiteFixture()
        #expect {
            try site.networks.importDefinition(Self.definition(reserving: [reservation]))
        } throws: { error in
            let problems = (error as? ValidationFailure)?.problems ?? []
            return problems.contains { $0.field == "file" && $0.message.contains(mentioning) }
        }
        #expect(try site.store.read { try $0.networkCount() } == 0)
    }

    @Test func twoImportedReservationsForOneAdapterOrAddressAreRefused() throws {
        let site = try SiteFixture()
        let one = DHCPReservation(mac: Self.mac, address: IPv4Address(192, 168, 140, 50), hostName: "db")
        var sameMAC = one
        sameMAC.address = IPv4Address(192, 168, 140, 51)
        var sameAddress = one
        sameAddress.mac = MACAddress(value: 0x0003_FF00_000A)
        #expect(throws: ValidationFailure.self) { try site.networks.importDefinition(Self.definition(reserving: [one, sameMAC])) }
        #expect(throws: ValidationFailure.self) { try site.networks.importDefinition(Self.definition(reserving: [one, sameAddress])) }
        let fine = try site.networks.importDefinition(Self.definition(reserving: [one, DHCPReservation(mac: sameAddress.mac, address: sameMAC.address, hostName: " web ")]))
        #expect(try site.networks.definition(of: fine.id).dhcp?.reservations.map(\.hostName) == ["db", "web"], "host names stored as the page stores them")
    }
}
