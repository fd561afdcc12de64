import Application
import Domain
import Foundation
import Packets
import Storage
import Testing
import TestSupport

@Suite("vnetd leases")
struct LeaseReportTests {
    @Test func listsANetworksLeasesByNameOrIdAsATableOrCSV() throws {
        let site = try SiteFixture()
        let network = try site.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        let vm = try site.vms.create(name: "web", notes: "", connectingTo: network.id)
        let mac = try #require(try site.store.read { try $0.nics(of: vm.id) }.first).mac
        try SQLiteLeaseStore(database: site.database).save([
            .bound(DHCPLease(network: network.id, address: IPv4Address(192, 168, 131, 16), mac: mac, clientID: [], hostName: "web\u{1B}[2J",
                             expires: site.clock.now().addingTimeInterval(600))),
            .bound(DHCPLease(network: network.id, address: IPv4Address(192, 168, 131, 17), mac: MACAddress(value: 0x0003FF0000AA), clientID: [],
                             hostName: "=1+1", expires: site.clock.now().addingTimeInterval(-1))),
        ])
        let table = try LeaseReport.render(dataDirectory: site.folder.path, network: "lab", csv: false, clock: site.clock)
        let lines = table.split(separator: "\n")
        #expect(lines.first?.hasPrefix("ADDRESS") == true)
        #expect(lines[1].contains("192.168.131.16") && lines[1].contains("web?[2J") && lines[1].contains("Virtual network adapter 1") && lines[1].hasSuffix("active"))
        #expect(!table.contains("\u{1B}"), "no terminal escapes from a guest's name")
        #expect(lines[2].hasSuffix("expired"))
        let csv = try LeaseReport.render(dataDirectory: site.folder.path, network: network.id.rawValue, csv: true, clock: site.clock)
        #expect(csv.hasPrefix("address,mac,host_name,vm,adapter,expires,state\r\n"))
        #expect(csv.contains(",'=1+1,"))
        #expect(throws: LeaseReport.NoSuchNetwork.self) { try LeaseReport.render(dataDirectory: site.folder.path, network: "nope", csv: false) }
    }
}
