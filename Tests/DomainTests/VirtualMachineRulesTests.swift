import Domain
import Foundation
import Packets
import Testing

@Suite("Virtual machine and network adapter rules, against SQLite")
struct VirtualMachineRulesTests {
    @Test func newVMHasOneUnconnectedNICWithADynamicMACUnder0003FF() throws {
        let fx = try DomainFixture()
        let vm = try fx.vms.create(name: "web", notes: "")
        let nics = try fx.nics(vm)
        #expect(nics.count == 1)
        #expect(nics[0].slot == 1)
        #expect(nics[0].networkID == nil)
        #expect(nics[0].assignment == .dynamic)
        #expect(nics[0].mac.prefix == 0x0003FF)
        #expect(nics[0].mac.isUnicast)
    }

    @Test func atMostFourNICs() throws {
        let fx = try DomainFixture()
        let vm = try fx.vms.create(name: "web", notes: "")
        for version in 1...3 { try fx.vms.addNIC(to: vm.id, version: version) }
        #expect(try fx.nics(vm).map(\.slot) == [1, 2, 3, 4])
        #expect {
            try fx.vms.addNIC(to: vm.id, version: 4)
        } throws: { ($0 as? ValidationFailure)?.has(.tooManyNICs) == true }
        // Removing slot 2 frees it for the next one.
        let second = try #require(try fx.nics(vm).first { $0.slot == 2 })
        try fx.vms.removeNIC(second.id, of: vm.id, version: 4)
        #expect(try fx.vms.addNIC(to: vm.id, version: 5).slot == 2)
    }

    @Test func dynamicMACsNeverRepeatOneInUse() throws {
        // The random source offers the same suffix twice, then a fresh one.
        let fx = try DomainFixture(random: [0x000042, 0x000042, 0x000043])
        let a = try fx.vms.create(name: "a", notes: "")
        let b = try fx.vms.create(name: "b", notes: "")
        #expect(try fx.nics(a)[0].mac == MACAddress(value: 0x0003FF000042))
        #expect(try fx.nics(b)[0].mac == MACAddress(value: 0x0003FF000043))
    }

    @Test func dynamicAllocationAvoidsStaticAddressesToo() throws {
        let fx = try DomainFixture(random: [0x000010, 0x000011, 0x000010, 0x000012])
        let a = try fx.vms.create(name: "a", notes: "")
        let nic = try fx.nics(a)[0]
        // a's NIC takes 00:03:ff:00:00:11 as a static address; then b's dynamic draw of ...10 is free (a gave it up), ...11 is not.
        try fx.vms.configureNICs(of: a.id, version: 1, [NICSetting(nicID: nic.id, networkID: nil, assignment: .static, staticMAC: "00-03-FF-00-00-11")])
        let b = try fx.vms.create(name: "b", notes: "")
        #expect(try fx.nics(b)[0].mac == MACAddress(value: 0x0003FF000010))
        let c = try fx.vms.create(name: "c", notes: "")
        #expect(try fx.nics(c)[0].mac == MACAddress(value: 0x0003FF000012))
    }

    @Test func dynamicMACIsStableAcrossReopening() throws {
        let fx = try DomainFixture()
        let vm = try fx.vms.create(name: "web", notes: "")
        let mac = try fx.nics(vm)[0].mac
        let reopened = try VnetdDatabaseReopen.nics(folder: fx.folder.path, vm: vm.id)
        #expect(reopened.map(\.mac) == [mac])
    }

    @Test(arguments: [
        ("00-03-FF-12-34-5", Problem.Code.macInvalid),
        ("zz:zz:zz:zz:zz:zz", .macInvalid),
        ("00:00:00:00:00:00", .macZero),
        ("01:00:5E:00:00:01", .macNotUnicast),
        ("FF-FF-FF-FF-FF-FF", .macNotUnicast),
    ])
    func staticMACsMustBeValidUnicast(text: String, code: Problem.Code) throws {
        let fx = try DomainFixture()
        let vm = try fx.vms.create(name: "web", notes: "")
        let nic = try fx.nics(vm)[0]
        #expect {
            try fx.vms.configureNICs(of: vm.id, version: 1, [NICSetting(nicID: nic.id, networkID: nil, assignment: .static, staticMAC: text)])
        } throws: { error in
            (error as? ValidationFailure)?.problems.map(\.code) == [code]
                && (error as? ValidationFailure)?.problems.first?.field == "nic-1-mac"
        }
        #expect(try fx.nics(vm)[0] == nic)
    }

    @Test func staticMACInUseAnywhereIsRefusedNamingTheOwner() throws {
        let fx = try DomainFixture()
        let web = try fx.vms.create(name: "web", notes: "")
        let db = try fx.vms.create(name: "db", notes: "")
        let webMAC = try fx.nics(web)[0].mac
        let dbNIC = try fx.nics(db)[0]
        #expect {
            try fx.vms.configureNICs(of: db.id, version: 1, [NICSetting(nicID: dbNIC.id, networkID: nil, assignment: .static, staticMAC: webMAC.description)])
        } throws: { error in
            let message = (error as? ValidationFailure)?.problems.first?.message ?? ""
            return (error as? ValidationFailure)?.has(.macInUse) == true && message.contains("“web”")
        }
        // Two NICs of one VM cannot take the same address in one save either.
        let second = try fx.vms.addNIC(to: db.id, version: 1)
        #expect {
            try fx.vms.configureNICs(of: db.id, version: 2, [
                NICSetting(nicID: dbNIC.id, networkID: nil, assignment: .static, staticMAC: "02:00:00:00:00:01"),
                NICSetting(nicID: second.id, networkID: nil, assignment: .static, staticMAC: "02-00-00-00-00-01"),
            ])
        } throws: { ($0 as? ValidationFailure)?.has(.macInUse) == true }
    }

    @Test func twoNICsOfOneVMMaySwapAddressesInOneSave() throws {
        let fx = try DomainFixture()
        let vm = try fx.vms.create(name: "web", notes: "")
        let second = try fx.vms.addNIC(to: vm.id, version: 1)
        let first = try fx.nics(vm)[0]
        try fx.vms.configureNICs(of: vm.id, version: 2, [
            NICSetting(nicID: first.id, networkID: nil, assignment: .static, staticMAC: second.mac.description),
            NICSetting(nicID: second.id, networkID: nil, assignment: .static, staticMAC: first.mac.description),
        ])
        let swapped = try fx.nics(vm)
        #expect(swapped.map(\.mac) == [second.mac, first.mac])
    }

    @Test func macUniquenessHoldsInTheSchemaToo() throws {
        let fx = try DomainFixture()
        let web = try fx.vms.create(name: "web", notes: "")
        let mac = try fx.nics(web)[0].mac
        #expect {
            try fx.store.write { db in
                try db.insert(VirtualNIC(id: .generate(), vmID: web.id, slot: 2, networkID: nil, assignment: .static, mac: mac))
            }
        } throws: { ($0 as? ValidationFailure)?.has(.macInUse) == true }
    }

    /// Eight threads (not tasks, which get one thread per core) released together: one wins, and
    /// every other one loses because the MAC is taken, not because the database was busy.
    @Test func concurrentStaticAssignmentsOfOneAddressLetExactlyOneWin() throws {
        let fx = try DomainFixture()
        var targets: [(VMID, NICID)] = []
        for index in 0..<8 {
            let vm = try fx.vms.create(name: "vm\(index)", notes: "")
            targets.append((vm.id, try fx.nics(vm)[0].id))
        }
        let service = fx.vms
        let race = Race<Void>(runners: targets.count)
        for (vm, nic) in targets {
            Thread {
                race.run { _ = try service.configureNICs(of: vm, version: 1, [NICSetting(nicID: nic, networkID: nil, assignment: .static, staticMAC: "02:aa:bb:cc:dd:ee")]) }
            }.start()
        }
        let results = try #require(race.outcomes(timeoutSeconds: 60), "every thread finished")
        #expect(results.count == 8)
        #expect(results.filter { (try? $0.get()) != nil }.count == 1)
        let losers = results.compactMap { result -> (any Error)? in
            if case .failure(let error) = result { return error }
            return nil
        }
        #expect(losers.count == 7)
        for error in losers {
            #expect((error as? ValidationFailure)?.has(.macInUse) == true, "lost because the MAC is taken: \(error)")
        }
        let holders = try fx.store.read { try $0.nic(using: MACAddress(value: 0x02AABBCCDDEE)) }
        #expect(holders != nil)
    }

    @Test func movingANICBetweenNetworksIsOneChangeAndRecorded() throws {
        let fx = try DomainFixture()
        let red = try fx.networks.create(NetworkDraft(name: "Red", adapter: nil, notes: ""))
        let blue = try fx.networks.create(NetworkDraft(name: "Blue", adapter: nil, notes: ""))
        let vm = try fx.vms.create(name: "web", notes: "", connectingTo: red.id)
        let nic = try fx.nics(vm)[0]
        let changed = try fx.vms.configureNICs(of: vm.id, version: 1, [NICSetting(nicID: nic.id, networkID: blue.id, assignment: .dynamic)])
        #expect(changed.count == 1)
        #expect(changed[0].mac == nic.mac)
        #expect(try fx.nics(vm)[0].networkID == blue.id)
        #expect(try fx.events().first?.message == "Virtual network adapter 1 of “web” moved from “Red” to “Blue”.")
        #expect(fx.dataplane.changes.last == .nicChanged(changed[0]))
    }

    @Test func staleNICFormIsRefused() throws {
        let fx = try DomainFixture()
        let net = try fx.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        let vm = try fx.vms.create(name: "web", notes: "")
        let nic = try fx.nics(vm)[0]
        try fx.vms.configureNICs(of: vm.id, version: 1, [NICSetting(nicID: nic.id, networkID: net.id, assignment: .dynamic)])
        #expect {
            try fx.vms.configureNICs(of: vm.id, version: 1, [NICSetting(nicID: nic.id, networkID: nil, assignment: .dynamic)])
        } throws: { ($0 as? ValidationFailure)?.has(.staleEdit) == true }
        #expect(try fx.nics(vm)[0].networkID == net.id)
    }

    @Test func returningToDynamicAllocatesAFreshAddressUnderThePrefix() throws {
        let fx = try DomainFixture()
        let vm = try fx.vms.create(name: "web", notes: "")
        let nic = try fx.nics(vm)[0]
        try fx.vms.configureNICs(of: vm.id, version: 1, [NICSetting(nicID: nic.id, networkID: nil, assignment: .static, staticMAC: "52:54:00:12:34:56")])
        try fx.vms.configureNICs(of: vm.id, version: 2, [NICSetting(nicID: nic.id, networkID: nil, assignment: .dynamic)])
        let after = try fx.nics(vm)[0]
        #expect(after.assignment == .dynamic)
        #expect(after.mac.prefix == 0x0003FF)
    }

    @Test func vmNamesFollowTheSameRulesAndRemovalTakesItsNICs() throws {
        let fx = try DomainFixture()
        #expect(throws: ValidationFailure.self) { try fx.vms.create(name: "a/b", notes: "") }
        let vm = try fx.vms.create(name: "Web", notes: "")
        #expect { try fx.vms.create(name: "web", notes: "") } throws: { ($0 as? ValidationFailure)?.has(.nameTaken) == true }
        try fx.vms.addNIC(to: vm.id, version: 1)
        try fx.vms.remove(vm.id)
        #expect(try fx.store.read { try $0.summary() } == InventorySummary())
        #expect(try fx.events().first?.message == "Removed virtual machine “Web” and its 2 network adapters.")
        #expect { try fx.vms.remove(vm.id) } throws: { $0 is NotFound }
    }
}

/// Threads that wait until all `runners` are ready, start together, and report their outcomes.
final class Race<Value>: @unchecked Sendable {
    private let condition = NSCondition()
    private let runners: Int
    private var ready = 0
    private var results: [Result<Value, any Error>] = []

    init(runners: Int) { self.runners = runners }

    func run(_ body: () throws -> Value) {
        condition.lock()
        ready += 1
        condition.broadcast()
        while ready < runners { condition.wait() }
        condition.unlock()
        let outcome = Result { try body() }
        condition.lock()
        results.append(outcome)
        condition.broadcast()
        condition.unlock()
    }

    func outcomes(timeoutSeconds: Double) -> [Result<Value, any Error>]? {
        let deadline = Date(timeIntervalSinceNow: timeoutSeconds)
        condition.lock()
        defer { condition.unlock() }
        while results.count < runners {
            if !condition.wait(until: deadline) { return nil }
        }
        return results
    }
}
