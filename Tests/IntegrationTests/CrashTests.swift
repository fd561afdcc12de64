import Application
import DHCP
import Domain
import Foundation
import Logging
import Packets
import Storage
import Synchronization
import Testing
import TestSupport
import WebServer

#if canImport(Glibc)
import Glibc
#endif

/// vnetd killed with SIGKILL, again and again, while a browser saves changes and VMs take DHCP
/// leases: nothing it acknowledged may be missing afterwards, and the database stays sound.
@Suite("Nothing acknowledged is lost to kill -9", .serialized)
struct CrashTests {
    static let rounds = 8

    @Test func killNineInALoopLosesNoAcknowledgedChangeOrLease() throws {
        let vnetd = try #require(
            vnetdExecutable,
            "the vnetd executable is built by `swift build`")
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let data = folder.path + "/data"
        let (sockets, passwordFile) = try prepare(data: data)

        var acknowledgedNetworks: Set<String> = []
        var acknowledgedLeases: [MACAddress: IPv4Address] = [:]
        var roundsWithSaves = 0, roundsWithLeases = 0
        for round in 0..<Self.rounds {
            let port = unusedLoopbackPort()
            let pid = try spawn([vnetd, "serve", "--listen", "127.0.0.1:\(port)", "--data-dir", data, "--log-level", "error",
                                 "--templates", repositoryRoot + "/Templates", "--public", repositoryRoot + "/Public"],
                                logFile: folder.path + "/vnetd.log")
            var killed = false
            defer { if !killed { kill(pid, SIGKILL); waitpid(pid, nil, 0) } }
            #expect(eventually(15) { (try? HTTPTestClient(port: port).get("/login").status) == 200 }, "round \(round): vnetd starts")
            let browser = try SignedInClient(port: port, initialPasswordFile: passwordFile)

            let stop = Atomic<Bool>(false)
            let networks = Mutex<[String]>([])
            let leases = Mutex<[(MACAddress, IPv4Address)]>([])
            let workers = DispatchGroup()
            if ProcessInfo.processInfo.environment["NOBROWSER"] == nil { DispatchQueue.global().async(group: workers) {
                var index = 0
                while !stop.load(ordering: .relaxed) {
                    let name = "r\(round)-\(index)"
                    guard let reply = try? browser.post("/networks", [("name", name), ("notes", "saved before the crash")]) else { break }
                    if reply.status == 303 { networks.withLock { $0.append(name) } }
                    index += 1
                }
            } }
            for (index, socket) in sockets.enumerated() {
                DispatchQueue.global().async(group: workers) {
                    // As QEMU does with reconnect=, retry until the socket accepts.
                    var connected: StreamPeer?
                    while connected == nil, !stop.load(ordering: .relaxed) {
                        connected = try? StreamPeer(path: socket)
                        if connected == nil { usleep(20_000) }
                    }
                    guard let peer = connected else { return }
                    defer { peer.close() }
                    // 20 client addresses per VM, reused round after round: 80 leases fit the
                    // pool, so every round can be acknowledged (fresh ones exhausted it in round 0).
                    var next = 0
                    while !stop.load(ordering: .relaxed) {
                        let client = MACAddress(value: 0x0200_0000_0000 | UInt64(index) << 8 | UInt64(next % 20))
                        next += 1
                        guard let lease = try? Self.takeLease(through: peer, as: client) else { break }
                        leases.withLock { $0.append(lease) }
                    }
                }
            }
            usleep(UInt32.random(in: 700_000...2_000_000))
            kill(pid, SIGKILL)
            waitpid(pid, nil, 0)
            killed = true
            stop.store(true, ordering: .relaxed)
            workers.wait()
            acknowledgedNetworks.formUnion(networks.withLock { $0 })
            for (mac, address) in leases.withLock({ $0 }) { acknowledgedLeases[mac] = address }
            if !networks.withLock({ $0.isEmpty }) { roundsWithSaves += 1 }
            if !leases.withLock({ $0.isEmpty }) { roundsWithLeases += 1 }

            let database = try VnetdDatabase(directory: data)
            #expect(try database.integrityCheck() == ["ok"], "round \(round)")
            let stored = Set(try SQLiteInventoryStore(database: database).read { try $0.allNetworks() }.map(\.name))
            let missing = acknowledgedNetworks.subtracting(stored)
            #expect(missing.isEmpty, "round \(round): acknowledged but lost: \(missing.sorted().prefix(5))")
            let storedLeases = Dictionary(try SQLiteLeaseStore(database: database).allLeases().map { ($0.mac, $0.address) }, uniquingKeysWith: { a, _ in a })
            let lostLeases = acknowledgedLeases.filter { storedLeases[$0.key] != $0.value }
            #expect(lostLeases.isEmpty, "round \(round): acknowledged leases lost: \(lostLeases.count)")
            try database.close()
        }
        #expect(roundsWithSaves >= Self.rounds - 2, "the browser got changes through in most rounds: \(roundsWithSaves) of \(Self.rounds)")
        #expect(roundsWithLeases >= Self.rounds - 2, "VMs got leases in most rounds: \(roundsWithLeases) of \(Self.rounds)")
        print("kill -9 loop: \(Self.rounds) kills, \(acknowledgedNetworks.count) acknowledged network saves and \(acknowledgedLeases.count) acknowledged leases, none lost")
    }

    /// A data folder with the first administrator, a guest-only network with DHCP on, and four
    /// VMs with QEMU socket adapters on it that may send from any MAC address. Returns the sockets and the password file.
    func prepare(data: String) throws -> ([String], String) {
        var logger = Logger(label: "it")
        logger.logLevel = .critical
        let configuration = Configuration(
            listen: ListenAddress(host: "127.0.0.1", port: 0), dataDirectory: data,
            templatesDirectory: repositoryRoot + "/Templates", publicDirectory: repositoryRoot + "/Public", threads: 1)
        let app = try buildApplication(configuration, logger: logger)
        defer { app.shutdown() }
        let services = app.services
        let network = try services.networks.create(NetworkDraft(name: "Crash", adapter: nil, notes: ""))
        var draft = DHCPDraft(try services.dhcp.settings(of: network.id))
        draft.isEnabled = true
        draft.rangeEnd = draft.rangeStart.replacingOccurrences(of: #"\.\d+$"#, with: ".250", options: .regularExpression)
        _ = try services.dhcp.update(network.id, version: 0, draft)
        var sockets: [String] = []
        for index in 0..<4 {
            let vm = try services.vms.create(name: "vm\(index)", notes: "", connectingTo: network.id)
            let nic = try #require(try services.store.read { try $0.nics(of: vm.id) }.first)
            // Each socket stands for a VM with many DHCP clients behind it (fresh client MACs).
            try services.vms.configureNICs(of: vm.id, version: vm.version, [
                NICSetting(nicID: nic.id, networkID: network.id, assignment: .dynamic, allowsMACSpoofing: true),
            ])
            app.dataplane.settle()
            sockets.append(try #require(services.status.status(of: nic.id).endpoint))
        }
        return (sockets, configuration.initialPasswordFile)
    }

    /// DISCOVER and REQUEST as `client`; returns the acknowledged lease.
    static func takeLease(through peer: StreamPeer, as client: MACAddress) throws -> (MACAddress, IPv4Address)? {
        let xid = UInt32.random(in: 1...UInt32.max)
        var discover = DHCPMessage()
        discover.op = 1
        discover.transactionID = xid
        discover.clientHardwareAddress = client
        discover.set(.messageType, [DHCPMessageType.discover.rawValue])
        var offer: DHCPMessage?
        guard try peer.exchange(frame(discover, from: client), until: { received in
            offer = Self.reply(to: xid, in: received, type: .offer)
            return offer != nil
        }), let offer, let server = offer.option(.serverIdentifier) else { return nil }

        var request = discover
        request.set(.messageType, [DHCPMessageType.request.rawValue])
        request.set(.requestedAddress, offer.yourAddress.octets)
        request.set(.serverIdentifier, server)
        var ack: DHCPMessage?
        guard try peer.exchange(frame(request, from: client), until: { received in
            ack = Self.reply(to: xid, in: received, type: .ack)
            return ack != nil
        }), let ack else { return nil }
        return (client, ack.yourAddress)
    }

    static func frame(_ message: DHCPMessage, from client: MACAddress) -> [UInt8] {
        UDPDatagram.frame(sourceMAC: client, destinationMAC: .broadcast, source: .any, destination: .broadcast,
                          sourcePort: 68, destinationPort: 67, payload: message.serialized())
    }

    /// The DHCP reply of `type` for transaction `xid` inside an Ethernet frame, if it is one.
    static func reply(to xid: UInt32, in frame: [UInt8], type: DHCPMessageType) -> DHCPMessage? {
        guard frame.count > 14 + 20 + 8, frame[12] == 0x08, frame[13] == 0x00, frame[23] == 17 else { return nil }
        let ipHeader = Int(frame[14] & 0x0F) * 4
        let payload = 14 + ipHeader + 8
        guard frame.count > payload else { return nil }
        let message = frame[payload...].withUnsafeBytes { try? DHCPMessage(parsing: $0) }
        guard let message, message.transactionID == xid, message.option(.messageType) == [type.rawValue] else { return nil }
        return message
    }
}
