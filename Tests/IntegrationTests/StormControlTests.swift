import Application
import CTestNet
import Dataplane
import Domain
import Foundation
import Packets
import Storage
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Storm control on the real binary, set on the network's settings page: between two namespace
/// VMs on TAP ports, what exceeds a limit is dropped and counted, and nothing else is.
@Suite("Storm control on the real binary", .serialized, .enabled(if: rootTestsRun, Comment(rawValue: needsRoot)))
struct StormControlTests {
    static let kinds: [(tag: UInt8, name: String)] = [(1, "broadcast"), (2, "multicast"), (3, "unknown unicast"), (4, "known unicast")]

    @Test func limitsSetOnTheSettingsPageDropWhatExceedsThemAndNothingElse() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let data = folder.path + "/data"
        // Two VMs on TAP ports of one network, stored before vnetd starts.
        let (network, sender, receiver) = try Self.store(data: data)
        var process: VnetdProcess? = try VnetdProcess(data: data, logFile: folder.path + "/vnetd.log")
        defer { _ = process?.stop(signal: SIGKILL) }
        let a = try Namespace("sa"), b = try Namespace("sb")
        try #require(eventually { Self.exists(Dataplane.tapName(sender.id)) && Self.exists(Dataplane.tapName(receiver.id)) })
        try a.adopt(Dataplane.tapName(sender.id), address: "10.96.7.1/24")
        try b.adopt(Dataplane.tapName(receiver.id), address: "10.96.7.2/24")
        #expect(try a.canPing("10.96.7.2"), "the two VMs talk, and the switch learned both")

        let port = try #require(process?.port)
        let browser = try SignedInClient(port: port, initialPasswordFile: data + "/initial-admin-password")
        let settings = try browser.get("/networks/\(network.rawValue)/settings")
        #expect(settings.text.contains("Storm control"), "the settings page has the form")
        let version = try #require(settings.text.firstMatch(of: /name="version" value="(\d+)"/).map { String($0.1) })
        // A limit that is not a number is refused with the form again, and nothing is stored.
        let refused = try browser.post("/networks/\(network.rawValue)/storm-control", [("version", version), ("stormBroadcast", "lots")])
        #expect(refused.status == 422 && refused.text.contains("must be a whole number"))
        let saved = try browser.post("/networks/\(network.rawValue)/storm-control", [
            ("version", version), ("stormBroadcast", "200"), ("stormMulticast", ""), ("stormUnknownUnicast", "100"),
        ])
        #expect(saved.status == 303, "saved: \(saved.status)")

        // 2,000 frames of each kind at 1,000 a second each, from A; B counts what arrives.
        let perKind = 2_000
        let frames = Self.kinds.flatMap { kind -> [UInt8] in
            let destination = switch kind.tag {
            case 1: MACAddress.broadcast
            case 2: MACAddress(value: 0x0100_5E01_0203)
            case 3: MACAddress(value: 0x0200_0000_9999)
            default: receiver.mac
            }
            return EthernetBuilder.header(destination: destination, source: sender.mac, type: EtherType(rawValue: 0x88B5))
                + [kind.tag] + [UInt8](repeating: 0x5A, count: 45)
        }
        let counts = UnsafeMutablePointer<Int>.allocate(capacity: 256)
        counts.initialize(repeating: 0, count: 256)
        defer { counts.deallocate() }
        let counter = Thread { [b = b.name, interface = Dataplane.tapName(receiver.id), address = Int(bitPattern: counts)] in
            _ = testnet_count_raw("/var/run/netns/" + b, interface, 0x88B5, 4_500, UnsafeMutablePointer<Int>(bitPattern: address))
        }
        counter.start()
        usleep(300_000)
        let took = frames.withUnsafeBufferPointer {
            testnet_send_paced("/var/run/netns/" + a.name, Dataplane.tapName(sender.id), $0.baseAddress, 60, 4, perKind * 4, 4_000)
        }
        try #require(took > 0, "sent: \(took)")
        while !counter.isFinished { usleep(50_000) }
        let seconds = Double(took) / 1_000_000
        let received = Self.kinds.map { counts[Int($0.tag)] }
        print("storm control: \(perKind) of each kind in \(String(format: "%.2f", seconds)) s; B received " +
              zip(Self.kinds, received).map { "\($0.1) \($0.0.name)" }.joined(separator: ", "))

        #expect(received[3] == perKind, "known unicast is never limited")
        #expect(received[1] == perKind, "multicast has no limit set")
        // A bucket starts with one second's worth and refills at the limit.
        #expect((Int(200 * seconds)...Int(200 * (seconds + 1)) + 10).contains(received[0]), "broadcast held to 200/s: \(received[0])")
        #expect((Int(100 * seconds)...Int(100 * (seconds + 1)) + 10).contains(received[2]), "unknown unicast held to 100/s: \(received[2])")

        // The drops are counted by reason on the network's page (its totals, and the sender's
        // port): with what arrived, every frame.
        let page = try browser.get("/networks/\(network.rawValue)").text
        func dropped(_ reason: String) throws -> Int {
            page.matches(of: try Regex("(\\d+) storm control: \(reason) over the limit")).compactMap { Int($0.output[1].substring ?? "") }.max() ?? 0
        }
        let broadcastDrops = try dropped("broadcast"), unknownDrops = try dropped("unknown unicast")
        #expect((perKind...perKind + 10).contains(received[0] + broadcastDrops), "broadcast: \(received[0]) delivered + \(broadcastDrops) dropped")
        #expect(received[2] + unknownDrops == perKind, "unknown unicast: \(received[2]) delivered + \(unknownDrops) dropped")
        #expect(try dropped("multicast") == 0)

        // Stored: after a restart the page shows the limits again.
        _ = process?.stop(signal: SIGTERM)
        process = try VnetdProcess(data: data, logFile: folder.path + "/vnetd2.log")
        let again = try SignedInClient(port: try #require(process?.port), initialPasswordFile: data + "/initial-admin-password")
        let reloaded = try again.get("/networks/\(network.rawValue)/settings").text
        #expect(reloaded.contains(#"name="stormBroadcast" value="200""#) && reloaded.contains(#"name="stormUnknownUnicast" value="100""#))
        #expect(process?.errorLines().isEmpty ?? false)
    }

    static func store(data: String) throws -> (NetworkID, VirtualNIC, VirtualNIC) {
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let database = try VnetdDatabase(directory: data)
        defer { try? database.close() }
        let store = SQLiteInventoryStore(database: database)
        let networks = NetworkService(store: store, clock: SystemClock(), dataplane: NoDataplane(), adapters: FixedAdapters([]))
        let vms = VirtualMachineService(store: store, clock: SystemClock(), dataplane: NoDataplane())
        let network = try networks.create(NetworkDraft(name: "Storm", adapter: nil, notes: "")).id
        let nics = try ["sender", "receiver"].map { name -> VirtualNIC in
            let vm = try vms.create(name: name, notes: "", connectingTo: network)
            let nic = try #require(try store.read { try $0.nics(of: vm.id) }.first)
            try vms.configureNICs(of: vm.id, version: vm.version, [NICSetting(nicID: nic.id, networkID: network, assignment: .dynamic, backend: .tap)])
            return try #require(try store.read { try $0.nic(nic.id) })
        }
        return (network, nics[0], nics[1])
    }

    static func exists(_ interface: String) -> Bool {
        FileManager.default.fileExists(atPath: "/sys/class/net/\(interface)")
    }
}
