import Dataplane
import Domain
import Foundation
import Packets
import Testing
import TestSupport

/// Issue 13, items 5 and 8, on the real data path with QEMU stream sockets (no privileges): what
/// the status pages read after a live move, and the operational events the data path records.
@Suite("Honest status from the data path")
struct HonestStatusTests {
    static func frame(from source: MACAddress, filler: UInt8) -> [UInt8] {
        EthernetBuilder.header(destination: .broadcast, source: source, type: EtherType(rawValue: 0x88B5)) + [UInt8](repeating: filler, count: 200)
    }

    @Test func afterALiveMoveThePortsCountersAndTheNewNetworksTotalsStartAtTheMove() throws {
        let vnetd = try VnetdUnderTest()
        let services = vnetd.services
        let red = try services.networks.create(NetworkDraft(name: "Red", adapter: nil, notes: ""))
        let blue = try services.networks.create(NetworkDraft(name: "Blue", adapter: nil, notes: ""))
        let mover = try vnetd.nic(of: try services.vms.create(name: "mover", notes: "", connectingTo: red.id))
        let listener = try vnetd.nic(of: try services.vms.create(name: "listener", notes: "", connectingTo: red.id))
        vnetd.settle()
        let peer = try StreamPeer(path: try #require(services.status.status(of: mover.id).endpoint))
        let other = try StreamPeer(path: try #require(services.status.status(of: listener.id).endpoint))
        #expect(eventually { services.status.status(of: mover.id).isAttached && services.status.status(of: listener.id).isAttached })
        try peer.send(Array(repeating: Self.frame(from: mover.mac, filler: 1), count: 50))
        #expect(eventually { vnetd.settle(); return services.status.status(of: mover.id).counters.rxFrames >= 50 })
        _ = other

        let version = try #require(try services.store.read { try $0.vm(mover.vmID) }).version
        try services.vms.configureNICs(of: mover.vmID, version: version, [NICSetting(nicID: mover.id, networkID: blue.id, assignment: .dynamic)])
        vnetd.settle()
        // Two ticks, so a carried total would have shown up in the new network's history by now.
        Thread.sleep(forTimeInterval: 2.2)
        vnetd.settle()
        let moved = services.status.status(of: mover.id)
        #expect(moved.counters.rxFrames == 0, "the port's counters are the new network's, from the move on")
        let blueStatus = services.status.status(of: blue.id)
        #expect(blueStatus.totals.rxFrames == 0, "Blue's totals hold none of Red's traffic")
        #expect(blueStatus.history.allSatisfy { $0.frames == 0 }, "no phantom spike on Blue's chart")
        #expect(services.status.status(of: red.id).totals.rxFrames >= 50, "Red keeps what crossed it")

        try peer.send(Array(repeating: Self.frame(from: mover.mac, filler: 2), count: 7))
        #expect(eventually { vnetd.settle(); return services.status.status(of: mover.id).counters.rxFrames == 7 })
    }

    @Test func aQEMUConnectingAndLeavingIsRecordedOnceEachWithItsVM() throws {
        let vnetd = try VnetdUnderTest()
        let services = vnetd.services
        let lab = try services.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        let vm = try services.vms.create(name: "guest", notes: "", connectingTo: lab.id)
        let nic = try vnetd.nic(of: vm)
        vnetd.settle()
        let peer = try StreamPeer(path: try #require(services.status.status(of: nic.id).endpoint))
        #expect(eventually { services.status.status(of: nic.id).isAttached })
        peer.close()
        #expect(eventually { !services.status.status(of: nic.id).isAttached })
        func operational() throws -> [Event] {
            try services.eventLog.page(offset: 0, limit: 50, matching: EventQuery(category: "port")).events
        }
        #expect(try eventually { try operational().count >= 2 })
        let events = try operational()
        #expect(events.map(\.kind) == [.vmDisconnected, .vmConnected])
        #expect(events.allSatisfy { $0.subject.id == vm.id.rawValue && $0.actor == nil })
        #expect(events.first?.kind.level == .warning)
        #expect(events.last?.message.contains("guest") == true)
        let filtered = try services.eventLog.page(offset: 0, limit: 50, matching: EventQuery(level: .warning, subjectKind: .virtualMachine, subjectID: vm.id.rawValue))
        #expect(filtered.events.map(\.kind) == [.vmDisconnected])
    }

    /// A VM that reconnects in a loop does not flood the log: one event per port and kind per
    /// interval, and the next one says how many were left out.
    @Test func eventsPerPortAreRateLimited() throws {
        let limiter = OperationalEventLimiter(interval: 30)
        var recorded = 0
        for second in 0..<100 {
            if limiter.admit(key: "port|a|connected", now: Double(second) / 10) != nil { recorded += 1 }
        }
        #expect(recorded == 1)
        #expect(limiter.admit(key: "port|a|connected", now: 31) == 99, "the next event names the 99 left out")
        #expect(limiter.admit(key: "port|b|connected", now: 31) == 0, "another port is not held back")
    }
}
