import Domain
import Foundation
import Packets
import Testing

@Suite("DHCP settings rules")
struct DHCPRulesTests {
    func draft(_ overrides: [WritableKeyPath<DHCPDraft, String>: String] = [:]) -> DHCPDraft {
        var draft = DHCPDraft(
            isEnabled: true, network: "192.168.50.0", mask: "255.255.255.0", rangeStart: "192.168.50.16", rangeEnd: "192.168.50.254",
            server: "192.168.50.1", gateway: "192.168.50.2", dnsServers: "", winsServers: "", leaseTime: "86400", renewalTime: "43200",
            rebindingTime: "75600")
        for (path, value) in overrides { draft[keyPath: path] = value }
        return draft
    }

    func problems(_ draft: DHCPDraft) -> [Problem] {
        if case .failure(let failure) = DHCPRules.settings(from: draft) { return failure.problems }
        return []
    }

    func settings(_ draft: DHCPDraft) throws -> DHCPSettings {
        try DHCPRules.settings(from: draft).get()
    }

    @Test func leaseTimesAreReadAndShownInHumanUnits() throws {
        #expect(LeaseDuration.parse("1 day") == 86_400)
        #expect(LeaseDuration.parse("12 hours") == 43_200)
        #expect(LeaseDuration.parse("90 minutes") == 5_400)
        #expect(LeaseDuration.parse("1 day, 6 hours") == 108_000)
        #expect(LeaseDuration.parse("1d12h") == 129_600)
        #expect(LeaseDuration.parse(" 3600 ") == 3_600)
        #expect(LeaseDuration.parse("45 s") == 45)
        #expect(LeaseDuration.parse("soon") == nil)
        #expect(LeaseDuration.parse("1 fortnight") == nil)
        #expect(LeaseDuration.parse("99999999999999999999 days") == nil)
        #expect(LeaseDuration.format(86_400) == "1 day")
        #expect(LeaseDuration.format(75_600) == "21 hours")
        #expect(LeaseDuration.format(3_150) == "52 minutes 30 seconds")
        #expect(LeaseDuration.format(90_061) == "1 day 1 hour 1 minute 1 second")
        let saved = try settings(draft([\.leaseTime: "1 day", \.renewalTime: "12 hours", \.rebindingTime: "21 hours"]))
        #expect((saved.leaseTime, saved.renewalTime, saved.rebindingTime) == (86_400, 43_200, 75_600))
        #expect(DHCPDraft(saved).leaseTime == "1 day")
        #expect(problems(draft([\.leaseTime: "soon"])).map(\.field) == ["leaseTime"])
    }

    @Test func aSubnetInOneBoxProposesTheRange() throws {
        let completed = DHCPRules.completing(draft([\.network: "10.20.0.0/16", \.mask: "", \.rangeStart: "", \.rangeEnd: "", \.server: ""]), replacingRange: false)
        #expect(completed.network == "10.20.0.0")
        #expect(completed.mask == "255.255.0.0")
        #expect(completed.server == "10.20.0.1")
        #expect(completed.rangeStart == "10.20.0.16")
        #expect(completed.rangeEnd == "10.20.255.254")
        let saved = try settings(draft([\.network: "192.168.60.0/27", \.mask: "", \.rangeStart: "", \.rangeEnd: "", \.server: "", \.gateway: ""]))
        #expect(saved.mask == IPv4Address(255, 255, 255, 224))
        #expect(saved.rangeStart == IPv4Address(192, 168, 60, 16))
        #expect(saved.rangeEnd == IPv4Address(192, 168, 60, 30))
        // A range typed by hand is kept unless the page asks for a proposal.
        #expect(DHCPRules.completing(draft([\.network: "192.168.50.0/24"]), replacingRange: false).rangeStart == "192.168.50.16")
        #expect(DHCPRules.completing(draft([\.network: "192.168.70.0/24", \.mask: "255.255.255.0"]), replacingRange: true).rangeStart == "192.168.70.16")
        // A mask box that disagrees with the prefix is not overwritten: the rules say so.
        #expect(problems(draft([\.network: "192.168.50.0/24", \.mask: "255.255.0.0"])).map(\.field) == ["mask"])
        #expect(problems(draft([\.network: "192.168.50.0/99", \.mask: ""])).map(\.field).contains("network"))
    }

    @Test func theMaskCheckAgreesWithTheReservedHostRule() throws {
        for prefix in 8...27 {
            let mask = IPv4Address(value: UInt32.max << UInt32(32 - prefix))
            let network = IPv4Address(10, 0, 0, 0)
            let proposed = DHCPRules.completing(draft([\.network: "\(network)/\(prefix)", \.mask: "", \.rangeStart: "", \.rangeEnd: "", \.server: "", \.gateway: ""]), replacingRange: true)
            #expect(proposed.mask == mask.description)
            #expect(throws: Never.self, "/\(prefix) has a range that saves") { try settings(proposed) }
        }
        let slash28 = problems(draft([\.network: "192.168.50.0", \.mask: "255.255.255.240", \.rangeStart: "192.168.50.14", \.rangeEnd: "192.168.50.14", \.server: "192.168.50.1", \.gateway: ""]))
        #expect(slash28.map(\.field) == ["mask"])
        #expect(slash28.first?.message.contains("255.255.255.224") == true)
    }

    @Test(arguments: ["0.0.0.0/8", "127.0.0.0/8", "127.1.0.0/16", "224.0.0.0/24", "239.1.2.0/24", "240.0.0.0/8", "250.1.0.0/16"])
    func reservedBlocksAreRefusedOnTheNetworkField(subnet: String) {
        let found = problems(DHCPRules.completing(draft([\.network: subnet, \.mask: "", \.rangeStart: "", \.rangeEnd: "", \.server: "", \.gateway: ""]), replacingRange: true))
        #expect(found.map(\.field) == ["network"], "\(subnet): \(found)")
    }

    @Test func theNewOptionsAreParsedAndStoredValues() throws {
        let saved = try settings(draft([
            \.domainName: "lab.example.", \.searchDomains: "lab.example, example.org", \.classlessRoutes: "10.20.0.0/16 via 192.168.50.254, 0.0.0.0/0 via 192.168.50.2",
            \.mtu: "1400", \.ntpServers: "192.168.50.3", \.nextServer: "192.168.50.4", \.biosBootFile: "pxelinux.0",
            \.uefiBootFile: "grubx64.efi", \.ipxeBootFile: "http://192.168.50.4/boot.ipxe",
        ]))
        #expect(saved.domainName == "lab.example")
        #expect(saved.searchDomains == ["lab.example", "example.org"])
        #expect(saved.classlessRoutes == [
            DHCPRoute(destination: IPv4Address(10, 20, 0, 0), prefixLength: 16, router: IPv4Address(192, 168, 50, 254)),
            DHCPRoute(destination: .any, prefixLength: 0, router: IPv4Address(192, 168, 50, 2)),
        ])
        #expect(saved.mtu == 1400)
        #expect(saved.ntpServers == [IPv4Address(192, 168, 50, 3)])
        #expect(saved.boot == DHCPBoot(nextServer: IPv4Address(192, 168, 50, 4), biosFile: "pxelinux.0", uefiFile: "grubx64.efi", ipxeFile: "http://192.168.50.4/boot.ipxe"))
        let shown = DHCPDraft(saved)
        #expect(shown.classlessRoutes == "10.20.0.0/16 via 192.168.50.254, 0.0.0.0/0 via 192.168.50.2")
        #expect(try settings(shown) == saved, "what the form shows saves to the same settings")
        #expect(try settings(draft()).boot.isEmpty)
    }

    @Test(arguments: [
        ("domainName", "-lab.example", "domainName"),
        ("domainName", "lab..example", "domainName"),
        ("domainName", "lab_1.example", "domainName"),
        ("domainName", "café.example", "domainName"),
        ("domainName", String(repeating: "a", count: 64) + ".example", "domainName"),
        ("domainName", Array(repeating: String(repeating: "a", count: 60), count: 5).joined(separator: "."), "domainName"),
        ("searchDomains", "ok.example, bad..example", "searchDomains"),
        ("searchDomains", (1...9).map { "d\($0).example" }.joined(separator: ","), "searchDomains"),
        ("searchDomains", (1...5).map { "d\($0)" + String(repeating: "a", count: 58) + ".example" }.joined(separator: ","), "searchDomains"),
        ("classlessRoutes", "10.20.0.5/16 via 192.168.50.254", "classlessRoutes"),
        ("classlessRoutes", "10.20.0.0/33 via 192.168.50.254", "classlessRoutes"),
        ("classlessRoutes", "10.20.0.0/16 via 10.9.9.9", "classlessRoutes"),
        ("classlessRoutes", "10.20.0.0/16", "classlessRoutes"),
        ("classlessRoutes", "10.20.0.0/16 via 192.168.50.254, 10.20.0.0/16 via 192.168.50.253", "classlessRoutes"),
        ("classlessRoutes", (1...17).map { "10.\($0).0.0/16 via 192.168.50.254" }.joined(separator: ","), "classlessRoutes"),
        ("mtu", "67", "mtu"),
        ("mtu", "65536", "mtu"),
        ("mtu", "big", "mtu"),
        ("ntpServers", "time.example", "ntpServers"),
        ("nextServer", "255.255.255.255", "nextServer"),
        ("biosBootFile", "pxelinux.0", "nextServer"),
        ("biosBootFile", "a\u{0}b", "biosBootFile"),
        ("uefiBootFile", String(repeating: "x", count: 128), "uefiBootFile"),
        ("ipxeBootFile", "http://x/" + String(repeating: "x", count: 250), "ipxeBootFile"),
    ] as [(String, String, String)])
    func eachBadOptionIsAProblemOnItsField(typedInto: String, value: String, field: String) throws {
        let paths: [String: WritableKeyPath<DHCPDraft, String>] = [
            "domainName": \.domainName, "searchDomains": \.searchDomains, "classlessRoutes": \.classlessRoutes, "mtu": \.mtu,
            "ntpServers": \.ntpServers, "nextServer": \.nextServer, "biosBootFile": \.biosBootFile, "uefiBootFile": \.uefiBootFile,
            "ipxeBootFile": \.ipxeBootFile,
        ]
        let path = try #require(paths[typedInto])
        #expect(problems(draft([path: value])).map(\.field) == [field], "\(value)")
    }

    @Test func boundaryOptionValuesAreAccepted() throws {
        #expect(try settings(draft([\.mtu: "68"])).mtu == 68)
        #expect(try settings(draft([\.mtu: "65535"])).mtu == 65_535)
        #expect(try settings(draft([\.nextServer: "192.168.50.4", \.uefiBootFile: String(repeating: "x", count: 127)])).boot.uefiFile?.utf8.count == 127)
        #expect(try settings(draft([\.ipxeBootFile: "http://x/" + String(repeating: "x", count: 246)])).boot.ipxeFile?.utf8.count == 255)
        #expect(try settings(draft([\.classlessRoutes: (1...16).map { "10.\($0).0.0/16 via 192.168.50.254" }.joined(separator: "\n")])).classlessRoutes.count == 16)
    }
}
