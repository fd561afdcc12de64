import Domain
import Foundation
import Packets
import Testing

@Suite("Virtual network rules, against SQLite")
struct NetworkRulesTests {
    @Test func newNetworkIsGuestOnlyAndRecordedWithAnEvent() throws {
        let fx = try DomainFixture()
        let network = try fx.networks.create(NetworkDraft(name: "  Lab  ", adapter: nil, notes: "for tests"))
        #expect(network.name == "Lab")
        #expect(network.kind == .guestOnly)
        #expect(network.version == 1)
        let stored = try #require(try fx.store.read { try $0.network(network.id) })
        #expect(stored == network)
        #expect(try fx.events().first?.kind == .networkCreated)
        #expect(fx.dataplane.changes == [.networkAdded(network)])
    }

    @Test(arguments: ["", "   ", "a*b", "a?b", "a:b", "a<b", "a>b", "a/b", "a\\b", "a|b", "a\"b", "tab\there"])
    func badNamesAreRefusedWithAMessage(name: String) throws {
        let fx = try DomainFixture()
        #expect {
            try fx.networks.create(NetworkDraft(name: name, adapter: nil, notes: ""))
        } throws: { error in
            guard let failure = error as? ValidationFailure else { return false }
            return (failure.has(.nameRequired) || failure.has(.nameHasForbiddenCharacters)) && failure.problems.allSatisfy { $0.field == "name" }
        }
        #expect(try fx.store.read { try $0.networkCount() } == 0)
        #expect(try fx.events().isEmpty)
    }

    @Test func nameLimitIs256Characters() throws {
        let fx = try DomainFixture()
        try fx.networks.create(NetworkDraft(name: String(repeating: "n", count: 256), adapter: nil, notes: ""))
        #expect(throws: ValidationFailure.self) {
            try fx.networks.create(NetworkDraft(name: String(repeating: "m", count: 257), adapter: nil, notes: ""))
        }
    }

    @Test func namesAreUniqueIgnoringCase() throws {
        let fx = try DomainFixture()
        try fx.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        for clash in ["lab", "LAB", " Lab "] {
            #expect {
                try fx.networks.create(NetworkDraft(name: clash, adapter: nil, notes: ""))
            } throws: { error in
                (error as? ValidationFailure)?.problems == [Problem(.nameTaken, field: "name", "A network named “\(clash.trimmingCharacters(in: .whitespaces))” already exists. Network names must differ in more than case.")]
            }
        }
        try fx.networks.create(NetworkDraft(name: "Ärger", adapter: nil, notes: ""))
        #expect(throws: ValidationFailure.self) { try fx.networks.create(NetworkDraft(name: "ärger", adapter: nil, notes: "")) }
        #expect(try fx.store.read { try $0.networkCount() } == 2)
    }

    @Test func renameKeepsIdentityAndOwnNameIsNotAClash() throws {
        let fx = try DomainFixture()
        let network = try fx.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        let recased = try fx.networks.update(network.id, version: 1, NetworkDraft(name: "LAB", adapter: nil, notes: ""))
        #expect(recased.id == network.id)
        #expect(recased.version == 2)
        let renamed = try fx.networks.update(network.id, version: 2, NetworkDraft(name: "Staging", adapter: nil, notes: ""))
        #expect(renamed.name == "Staging")
        #expect(try fx.events().first?.message == "Renamed “LAB” to “Staging”.")
    }

    @Test func externalNetworksNeedAPresentBoundAdapter() throws {
        let fx = try DomainFixture()
        #expect {
            try fx.networks.create(NetworkDraft(name: "LAN", adapter: "eth0", notes: ""))
        } throws: { ($0 as? ValidationFailure)?.has(.adapterNotBound) == true }
        #expect {
            try fx.networks.create(NetworkDraft(name: "LAN", adapter: "eth9", notes: ""))
        } throws: { ($0 as? ValidationFailure)?.has(.adapterNotFound) == true }

        try fx.bindings.setBindings(bound: ["eth0"])
        let lan = try fx.networks.create(NetworkDraft(name: "LAN", adapter: "eth0", notes: ""))
        #expect(lan.kind == .external(adapter: "eth0"))
    }

    /// Two external networks on one adapter were one LAN segment under two names, flooding each
    /// other's traffic: the second is refused with the reason and what to do instead.
    @Test func anAdapterCarriesOneExternalNetwork() throws {
        let fx = try DomainFixture()
        try fx.bindings.setBindings(bound: ["eth0", "eth1"])
        let lan = try fx.networks.create(NetworkDraft(name: "LAN", adapter: "eth0", notes: ""))
        var refusal: ValidationFailure?
        do {
            try fx.networks.create(NetworkDraft(name: "LAN 2", adapter: "eth0", notes: ""))
        } catch let failure as ValidationFailure {
            refusal = failure
        }
        #expect(refusal?.has(.adapterTaken) == true)
        #expect(refusal?.problems.first?.message.contains("already carries the external network “LAN”") == true)
        let other = try fx.networks.create(NetworkDraft(name: "Other", adapter: "eth1", notes: ""))
        #expect {
            try fx.networks.update(other.id, version: other.version, NetworkDraft(name: "Other", adapter: "eth0", notes: ""))
        } throws: { ($0 as? ValidationFailure)?.has(.adapterTaken) == true }
        // Saving the network that has it is fine; once it lets go, another may take it.
        try fx.networks.update(lan.id, version: lan.version, NetworkDraft(name: "LAN", adapter: "eth0", notes: "kept"))
        try fx.networks.update(lan.id, version: lan.version + 1, NetworkDraft(name: "LAN", adapter: nil, notes: ""))
        #expect(try fx.networks.update(other.id, version: other.version, NetworkDraft(name: "Other", adapter: "eth0", notes: "")).kind == .external(adapter: "eth0"))
    }

    /// A bridge that already holds vnetd's TAPs would send every frame of an uplink on it
    /// straight back into vnetd.
    @Test func aBridgeHoldingVnetdsOwnTAPsCannotBeBound() throws {
        let fx = try DomainFixture()
        fx.adapters.plug(DiscoveredAdapter(name: "br0", mac: MACAddress(parsing: "52:54:00:aa:bb:09"), isUp: true, hasCarrier: true, speedMbps: nil,
                                           isWireless: false, holdsVnetdPorts: true))
        #expect {
            try fx.bindings.setBindings(bound: ["br0"])
        } throws: { error in
            guard let failure = error as? ValidationFailure else { return false }
            return failure.has(.adapterLoops) && failure.problems.first?.message.contains("holds vnetd's own TAP devices") == true
        }
        #expect(try fx.bindings.adapters().first { $0.name == "br0" }?.isBound == false)
        try fx.bindings.setBindings(bound: ["eth0"])
        #expect(try fx.bindings.adapters().first { $0.name == "eth0" }?.isBound == true, "an ordinary adapter still binds")
    }

    @Test func staleSaveIsRefusedAndNothingIsOverwritten() throws {
        let fx = try DomainFixture()
        let network = try fx.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: "v1"))
        try fx.networks.update(network.id, version: 1, NetworkDraft(name: "Lab", adapter: nil, notes: "first admin"))
        #expect {
            try fx.networks.update(network.id, version: 1, NetworkDraft(name: "Lab2", adapter: nil, notes: "second admin"))
        } throws: { ($0 as? ValidationFailure)?.has(.staleEdit) == true }
        let stored = try #require(try fx.store.read { try $0.network(network.id) })
        #expect(stored.notes == "first admin")
        #expect(stored.name == "Lab")
        #expect(stored.version == 2)
    }

    @Test func removingANetworkDisconnectsItsNICsFirst() throws {
        let fx = try DomainFixture()
        let network = try fx.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        let web = try fx.vms.create(name: "web", notes: "", connectingTo: network.id)
        let db = try fx.vms.create(name: "db", notes: "", connectingTo: network.id)
        let disconnected = try fx.networks.remove(network.id)
        #expect(Set(disconnected.map(\.vmName)) == ["web", "db"])
        #expect(try fx.store.read { try $0.network(network.id) } == nil)
        for vm in [web, db] {
            let nics = try fx.nics(vm)
            #expect(nics.count == 1)
            #expect(nics[0].networkID == nil)
        }
        let kinds = try fx.events().prefix(3).map(\.kind)
        #expect(kinds.first == .networkRemoved)
        #expect(kinds.dropFirst().allSatisfy { $0 == .nicDisconnected })
        #expect(fx.dataplane.changes.last == .networkRemoved(network.id))
    }

    @Test func createCanConnectUnconnectedNICs() throws {
        let fx = try DomainFixture()
        let vm = try fx.vms.create(name: "web", notes: "")
        let nic = try #require(try fx.nics(vm).first)
        let network = try fx.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""), connecting: [nic.id])
        #expect(try fx.nics(vm).first?.networkID == network.id)
        #expect(try fx.vm(vm.id)?.version == 2)

        let other = try fx.networks.create(NetworkDraft(name: "Other", adapter: nil, notes: ""))
        #expect {
            try fx.networks.update(other.id, version: other.version, NetworkDraft(name: "Other", adapter: nil, notes: ""), connecting: [nic.id])
        } throws: { ($0 as? ValidationFailure)?.has(.nicBelongsElsewhere) == true }
        #expect(try fx.nics(vm).first?.networkID == network.id)
    }

    @Test func settingsCanDisconnectNICs() throws {
        let fx = try DomainFixture()
        let network = try fx.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        let vm = try fx.vms.create(name: "web", notes: "", connectingTo: network.id)
        let nic = try #require(try fx.nics(vm).first)
        try fx.networks.update(network.id, version: 1, NetworkDraft(name: "Lab", adapter: nil, notes: ""), disconnecting: [nic.id])
        #expect(try fx.nics(vm).first?.networkID == nil)
        #expect(try fx.events().first?.message == "Virtual network adapter 1 of “web” disconnected from “Lab”.")
    }

    @Test func aMissingAdapterLeavesItsNetworksInPlace() throws {
        let fx = try DomainFixture()
        try fx.bindings.setBindings(bound: ["eth1"])
        let lan = try fx.networks.create(NetworkDraft(name: "LAN", adapter: "eth1", notes: ""))
        fx.adapters.unplug("eth1")
        let listed = try fx.bindings.adapters()
        let missing = try #require(listed.first { $0.name == "eth1" })
        #expect(!missing.isPresent)
        #expect(missing.isBound)
        #expect(try fx.store.read { try $0.network(lan.id) }?.kind == .external(adapter: "eth1"))
        // Saving the network's other settings keeps the missing adapter.
        let renamed = try fx.networks.update(lan.id, version: 1, NetworkDraft(name: "LAN 2", adapter: "eth1", notes: ""))
        #expect(renamed.kind == .external(adapter: "eth1"))
        // But no new network can choose it.
        #expect(throws: ValidationFailure.self) { try fx.networks.create(NetworkDraft(name: "New", adapter: "eth1", notes: "")) }
    }

    @Test func unbindingAnAdapterInUseIsRefusedNamingTheNetworks() throws {
        let fx = try DomainFixture()
        try fx.bindings.setBindings(bound: ["eth0", "eth1"])
        try fx.networks.create(NetworkDraft(name: "LAN", adapter: "eth0", notes: ""))
        #expect {
            try fx.bindings.setBindings(bound: [])
        } throws: { error in
            guard let failure = error as? ValidationFailure, failure.problems.count == 1 else { return false }
            return failure.has(.adapterInUse) && failure.problems[0].message.contains("“LAN”")
        }
        // All or nothing: eth1, which nothing uses, is still bound too.
        #expect(try fx.bindings.adapters().filter(\.isBound).map(\.name) == ["eth0", "eth1"])
        try fx.bindings.setBindings(bound: ["eth0"])
        #expect(try fx.bindings.adapters().filter(\.isBound).map(\.name) == ["eth0"])
        #expect(try fx.events().first?.kind == .adapterUnbound)
    }

    @Test func definitionRoundTripsAndDuplicateImportIsAnError() throws {
        let fx = try DomainFixture()
        try fx.bindings.setBindings(bound: ["eth0"])
        let lan = try fx.networks.create(NetworkDraft(name: "LAN", adapter: "eth0", notes: "uplink"))
        let definition = try fx.networks.definition(of: lan.id)
        #expect(definition == NetworkDefinition(name: "LAN", kind: .external(adapter: "eth0"), notes: "uplink"))
        #expect { try fx.networks.importDefinition(definition) } throws: { ($0 as? ValidationFailure)?.has(.nameTaken) == true }
        var renamed = definition
        renamed.name = "LAN copy"
        #expect { try fx.networks.importDefinition(renamed) } throws: { ($0 as? ValidationFailure)?.has(.adapterTaken) == true }
        try fx.networks.update(lan.id, version: lan.version, NetworkDraft(name: "LAN", adapter: nil, notes: "uplink"))
        let copy = try fx.networks.importDefinition(renamed)
        #expect(copy.kind == .external(adapter: "eth0"))
        #expect(try fx.events().first?.kind == .networkImported)
    }
}
