import Foundation
import Packets
import Testing
import TestSupport
@testable import HostNet

@Suite("Host adapter discovery from sysfs")
struct HostInterfaceScannerTests {
    /// Writes a fake /sys/class/net tree: one folder per interface with the attribute files.
    func makeTree(_ interfaces: [String: [String: String]], extras: [String] = []) throws -> TemporaryDirectory {
        let root = try TemporaryDirectory()
        for (name, attributes) in interfaces {
            try FileManager.default.createDirectory(atPath: root.path + "/" + name, withIntermediateDirectories: true)
            for (attribute, value) in attributes {
                try Data((value + "\n").utf8).write(to: URL(fileURLWithPath: "\(root.path)/\(name)/\(attribute)"))
            }
        }
        for extra in extras {
            try FileManager.default.createDirectory(atPath: root.path + "/" + extra, withIntermediateDirectories: true)
        }
        return root
    }

    @Test func listsEthernetAdaptersWithTheirStateAndSkipsLoopbackOwnAndNonEthernet() throws {
        let root = try makeTree([
            "lo": ["type": "772", "address": "00:00:00:00:00:00", "flags": "0x9"],
            "eth0": ["type": "1", "address": "52:54:00:12:34:56", "flags": "0x1003", "carrier": "1", "speed": "1000"],
            "wlan0": ["type": "1", "address": "a0:b1:c2:d3:e4:f5", "flags": "0x1002", "carrier": "0", "speed": "-1"],
            "vnd1a2b3c": ["type": "1", "address": "00:03:ff:00:00:01", "flags": "0x1003"],
            "tun0": ["type": "65534", "flags": "0x1091"],
        ], extras: ["wlan0/wireless"])
        defer { root.remove() }
        let found = HostInterfaceScanner(root: root.path).scan()
        #expect(found.map(\.name) == ["eth0", "wlan0"])
        #expect(found[0] == HostInterface(name: "eth0", mac: MACAddress(parsing: "52:54:00:12:34:56"), isUp: true, hasCarrier: true, speedMbps: 1000, isWireless: false))
        #expect(found[1].isWireless)
        #expect(!found[1].isUp)
        #expect(found[1].speedMbps == nil)
    }

    @Test func aBridgeListsItsPorts() throws {
        let root = try makeTree(["br0": ["type": "1", "address": "52:54:00:12:34:99", "flags": "0x1003"]],
                                extras: ["br0/brif/eth1", "br0/brif/vnd0123456789ab"])
        defer { root.remove() }
        #expect(HostInterfaceScanner(root: root.path).scan().first?.bridgePorts == ["eth1", "vnd0123456789ab"])
    }

    /// The Ethernet-type (ARPHRD 1) entries of /sys/class/net other than `lo` and vnetd's own,
    /// read without the scanner.
    static func ethernetEntriesOfThisHost() -> Set<String> {
        let root = "/sys/class/net"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return Set(names.filter { name in
            guard name != "lo", !name.hasPrefix("vnd"),
                  let type = try? String(contentsOfFile: "\(root)/\(name)/type", encoding: .utf8) else { return false }
            return type.trimmingCharacters(in: .whitespacesAndNewlines) == "1"
        })
    }

    @Test func thisHostsRealAdaptersAreAllListedAndNeverIncludeLoopback() throws {
        // Other suites create and delete interfaces meanwhile: require what was there both before
        // and after the scan, and allow only what was there at one of the two moments.
        let before = Self.ethernetEntriesOfThisHost()
        let found = HostInterfaceScanner().scan()
        let after = Self.ethernetEntriesOfThisHost()
        let names = Set(found.map(\.name))
        try #require(!before.intersection(after).isEmpty, "this host has an Ethernet adapter (eth0 at least)")
        #expect(before.intersection(after).isSubset(of: names), "missing: \(before.intersection(after).subtracting(names).sorted())")
        #expect(names.isSubset(of: before.union(after)), "not Ethernet adapters: \(names.subtracting(before.union(after)).sorted())")
        #expect(!names.contains("lo"))
        #expect(!names.contains { $0.hasPrefix(HostInterfaceScanner.ownPrefix) })
        #expect(found.allSatisfy { $0.mac != nil }, "every Ethernet adapter has a MAC")
    }
}
