import Packets
import Testing
@testable import DHCP

/// Issue 12's client-breaking defects, each as a scenario on a manual clock.
@Suite("DHCP as real clients meet it")
struct DHCPClientScenarioTests {
    static let reserved = IPv4Address(192, 168, 131, 16)

    func withReservation(for client: MACAddress, _ base: DHCPConfiguration = configuration) -> DHCPConfiguration {
        var changed = base
        changed.reservations = [client: .init(address: Self.reserved, hostName: "db")]
        return changed
    }

    func request(_ dhcp: RFC2131Server, _ client: MACAddress, _ address: IPv4Address?, clientID: [UInt8]? = nil, now: Int64) -> DHCPMessageType? {
        dhcp.handle(message(.request, from: client, requested: address, serverID: server, clientID: clientID), arrivedAsBroadcast: true, now: now)
            .reply?.message.messageType
    }

    // Item 1: a reservation is offered only when it can be granted.
    @Test func aReservationHeldByAnotherMACFallsBackToADynamicAddressAndSaysSo() throws {
        let dhcp = RFC2131Server(configuration: configuration)
        #expect(lease(dhcp, mac(1), now: 0) == Self.reserved, "mac 1 took .16 before the reservation existed")
        dhcp.update(withReservation(for: mac(9)), now: 1)
        let outcome = dhcp.handle(message(.discover, from: mac(9)), arrivedAsBroadcast: true, now: 2)
        let offered = try #require(outcome.reply?.message.yourAddress)
        #expect(offered != Self.reserved)
        #expect(request(dhcp, mac(9), offered, now: 2) == .ack, "no OFFER→NAK loop")
        #expect(outcome.notices == [.reservationUnavailable(Self.reserved, for: mac(9))])
        #expect(dhcp.counters.reservationFallbacks == 1)
        // The other MAC is moved off at its renewal; then the reservation wins.
        let renewal = dhcp.handle(message(.request, from: mac(1), ciaddr: Self.reserved), arrivedAsBroadcast: false, now: 300)
        #expect(renewal.reply?.message.messageType == .nak)
        #expect(lease(dhcp, mac(9), now: 301) == Self.reserved)
    }

    @Test func theReservedNICReturningWithAnotherClientIdentifierGetsItsAddress() {
        // iPXE first (no client id), then the installed system with an RFC 4361 DUID.
        let dhcp = RFC2131Server(configuration: withReservation(for: mac(9)))
        #expect(lease(dhcp, mac(9), now: 0) == Self.reserved)
        let duid: [UInt8] = [255, 0, 0, 0, 1, 0, 4, 0xAB, 0xCD]
        let offer = dhcp.handle(message(.discover, from: mac(9), clientID: duid), arrivedAsBroadcast: true, now: 10)
        #expect(offer.reply?.message.yourAddress == Self.reserved)
        #expect(offer.changes == [.released(Self.reserved)], "the old binding is abandoned, in the store too")
        #expect(request(dhcp, mac(9), Self.reserved, clientID: duid, now: 10) == .ack)
        #expect(dhcp.leases(now: 10).map(\.clientID) == [duid])
    }

    @Test func aDynamicNICReturningWithAnotherClientIdentifierKeepsItsAddress() {
        let dhcp = RFC2131Server(configuration: configuration)
        let first = lease(dhcp, mac(1), now: 0)
        let offer = dhcp.handle(message(.discover, from: mac(1), clientID: [1, 2, 3]), arrivedAsBroadcast: true, now: 5)
        #expect(offer.reply?.message.yourAddress == first)
        #expect(dhcp.leases(now: 5).isEmpty, "the abandoned lease is gone, the new one not yet acknowledged")
    }

    @Test func aDeclinedReservationFallsBackInsteadOfLooping() throws {
        let dhcp = RFC2131Server(configuration: withReservation(for: mac(9)))
        #expect(lease(dhcp, mac(9), now: 0) == Self.reserved)
        _ = dhcp.handle(message(.decline, from: mac(9), requested: Self.reserved, serverID: server), arrivedAsBroadcast: true, now: 1)
        let offered = try #require(dhcp.handle(message(.discover, from: mac(9)), arrivedAsBroadcast: true, now: 2).reply?.message.yourAddress)
        #expect(offered != Self.reserved)
        #expect(request(dhcp, mac(9), offered, now: 2) == .ack)
    }

    // Item 2: a new reservation moves a client that already has a lease.
    @Test func aNewReservationNAKsTheOldAddressAtRenewalAndInitReboot() {
        let dhcp = RFC2131Server(configuration: configuration)
        _ = lease(dhcp, mac(2), now: 0)
        let old = lease(dhcp, mac(9), now: 0)
        #expect(old == IPv4Address(192, 168, 131, 17))
        var changed = configuration
        changed.reservations = [mac(9): .init(address: IPv4Address(192, 168, 131, 200), hostName: nil)]
        dhcp.update(changed, now: 1)
        let reboot = dhcp.handle(message(.request, from: mac(9), requested: old), arrivedAsBroadcast: true, now: 2)
        #expect(reboot.reply?.message.messageType == .nak)
        let renewal = dhcp.handle(message(.request, from: mac(9), ciaddr: old ?? .any), arrivedAsBroadcast: false, now: 3)
        #expect(renewal.reply?.message.messageType == .nak)
        #expect(lease(dhcp, mac(9), now: 4) == IPv4Address(192, 168, 131, 200))
    }

    // Item 4: the network's own servers are never handed out.
    @Test func gatewayDNSAndWINSAddressesInTheRangeAreNeverOffered() {
        var inRange = configuration
        inRange.rangeEnd = IPv4Address(192, 168, 131, 20)
        inRange.gateway = IPv4Address(192, 168, 131, 16)
        inRange.dnsServers = [IPv4Address(192, 168, 131, 17)]
        inRange.winsServers = [IPv4Address(192, 168, 131, 18)]
        inRange.ntpServers = [IPv4Address(192, 168, 131, 19)]
        let dhcp = RFC2131Server(configuration: inRange)
        #expect(lease(dhcp, mac(1), now: 0) == IPv4Address(192, 168, 131, 20))
        #expect(lease(dhcp, mac(2), now: 0) == nil)
        let asked = dhcp.handle(message(.discover, from: mac(3), requested: IPv4Address(192, 168, 131, 16)), arrivedAsBroadcast: true, now: 0)
        #expect(asked.reply == nil)
    }

    // Item 6: a move releases the old row; stored duplicates load latest-first.
    @Test func aClientThatMovesReleasesItsOldRowAndTheNewestRowWinsAfterARestart() {
        let dhcp = RFC2131Server(configuration: configuration)
        #expect(lease(dhcp, mac(1), now: 0) == IPv4Address(192, 168, 131, 16))
        let moved = dhcp.handle(message(.request, from: mac(1), requested: IPv4Address(192, 168, 131, 18), serverID: server), arrivedAsBroadcast: true, now: 10)
        #expect(moved.reply?.message.messageType == .ack)
        #expect(moved.changes.first == .released(IPv4Address(192, 168, 131, 16)))
        let restarted = RFC2131Server(configuration: configuration, leases: [
            Lease(address: IPv4Address(192, 168, 131, 18), mac: mac(1), clientID: [], hostName: nil, expires: 610),
            Lease(address: IPv4Address(192, 168, 131, 16), mac: mac(1), clientID: [], hostName: nil, expires: 600),
        ])
        #expect(restarted.leases(now: 20).map(\.address) == [IPv4Address(192, 168, 131, 18)])
        #expect(restarted.staleAtLoad == [.released(IPv4Address(192, 168, 131, 16))])
    }

    @Test func aReleasedClientGetsItsAddressBack() {
        let dhcp = RFC2131Server(configuration: configuration)
        _ = lease(dhcp, mac(2), now: 0)
        let address = lease(dhcp, mac(1), now: 0)
        _ = dhcp.handle(message(.release, from: mac(1), serverID: server, ciaddr: address ?? .any), arrivedAsBroadcast: false, now: 5)
        #expect(lease(dhcp, mac(1), now: 6) == address)
    }

    @Test func aLeaseAnAdministratorReleasedIsRefusedToItsClientAndFreeForOthers() {
        let dhcp = RFC2131Server(configuration: configuration)
        let address = lease(dhcp, mac(1), now: 0) ?? .any
        dhcp.revoke(address, now: 10)
        // Authoritative, yet it does not adopt the client back on its renewal or reboot.
        let renewal = dhcp.handle(message(.request, from: mac(1), ciaddr: address), arrivedAsBroadcast: false, now: 300)
        #expect(renewal.reply?.message.messageType == .nak)
        let offer = dhcp.handle(message(.discover, from: mac(1), requested: address), arrivedAsBroadcast: true, now: 301).reply
        #expect(offer != nil && offer?.message.yourAddress != address)
        let other = dhcp.handle(message(.discover, from: mac(2), requested: address), arrivedAsBroadcast: true, now: 302).reply
        #expect(other?.message.yourAddress == address, "the address is free for others")
    }

    // Item 7: a port cannot drain the pool.
    @Test func aPortHoldsAtMostItsShareOfBindings() {
        var wide = configuration
        wide.rangeEnd = IPv4Address(192, 168, 131, 100)
        let dhcp = RFC2131Server(configuration: wide)
        let origin = RFC2131Server.Origin(port: 7, bindingLimit: 4)
        let offered = (1...10 as ClosedRange<UInt8>).compactMap {
            dhcp.handle(message(.discover, from: mac($0)), arrivedAsBroadcast: true, now: 0, origin: origin).reply
        }
        #expect(offered.count == 4)
        #expect(dhcp.counters.overLimit == 6)
        let other = dhcp.handle(message(.discover, from: mac(50)), arrivedAsBroadcast: true, now: 0, origin: .init(port: 8, bindingLimit: 4))
        #expect(other.reply != nil, "another port is not affected")
        // Offers lapse: the port may ask again.
        #expect(dhcp.handle(message(.discover, from: mac(11)), arrivedAsBroadcast: true, now: 61, origin: origin).reply != nil)
    }

    // Item 8: options without a list, and in the client's order.
    @Test func aClientWithoutAListGetsEveryConfiguredOptionAndRouterAndDNSAlwaysGo() throws {
        var rich = configuration
        rich.domainName = "lab.example"
        rich.ntpServers = [IPv4Address(192, 168, 131, 5)]
        rich.mtu = 9000
        let dhcp = RFC2131Server(configuration: rich)
        let none = try #require(dhcp.handle(message(.discover, from: mac(1)), arrivedAsBroadcast: true, now: 0).reply?.message)
        for code in [DHCPOptionCode.subnetMask, .router, .domainNameServer, .netbiosNameServer, .domainName, .ntpServers, .interfaceMTU] {
            #expect(none.option(code) != nil, "option \(code.rawValue)")
        }
        let listed = try #require(dhcp.handle(message(.discover, from: mac(2), parameters: [.domainName, .subnetMask, .interfaceMTU]),
                                              arrivedAsBroadcast: true, now: 0).reply?.message)
        let codes = listed.options.map(\.code).filter { ![.messageType, .serverIdentifier, .leaseTime, .renewalTime, .rebindingTime].contains($0) }
        #expect(codes == [.subnetMask, .domainName, .interfaceMTU, .router, .domainNameServer])
        #expect(listed.option(.netbiosNameServer) == nil)
    }

    // Item 9: a renewal that wrongly carries option 54 is still a renewal.
    @Test func aRenewalCarryingTheServerIdentifierIsAcknowledged() {
        let dhcp = RFC2131Server(configuration: configuration)
        let address = lease(dhcp, mac(1), now: 0) ?? .any
        let renewal = dhcp.handle(message(.request, from: mac(1), serverID: server, ciaddr: address), arrivedAsBroadcast: false, now: 300)
        #expect(renewal.reply?.message.messageType == .ack)
        #expect(renewal.reply?.message.clientAddress == address)
    }

    // Item 10: authoritative on its own network, silent beside a LAN.
    @Test func onlyAnAuthoritativeServerNAKsStrangersOnTheWrongSubnet() {
        let wrong = message(.request, from: mac(5), requested: IPv4Address(10, 0, 0, 7))
        #expect(RFC2131Server(configuration: configuration).handle(wrong, arrivedAsBroadcast: true, now: 0).reply?.message.messageType == .nak)
        var external = configuration
        external.isAuthoritative = false
        #expect(RFC2131Server(configuration: external).handle(wrong, arrivedAsBroadcast: true, now: 0).reply == nil)
    }

    @Test func anAuthoritativeServerAdoptsAStrangersFreeAddressSoALostDatabaseStrandsNoOne() {
        let dhcp = RFC2131Server(configuration: configuration)
        let reboot = dhcp.handle(message(.request, from: mac(5), requested: IPv4Address(192, 168, 131, 17)), arrivedAsBroadcast: true, now: 0)
        #expect(reboot.reply?.message.messageType == .ack)
        #expect(dhcp.leases(now: 0).map(\.mac) == [mac(5)])
    }

    // Item 11: an offer of a fresh address asks to be probed; a conflict moves to another.
    @Test func freshOffersAreProbedAndAConflictSetsTheAddressAside() throws {
        let dhcp = RFC2131Server(configuration: configuration)
        let first = dhcp.handle(message(.discover, from: mac(1)), arrivedAsBroadcast: true, now: 0)
        let address = try #require(first.probe)
        #expect(first.reply?.message.yourAddress == address)
        let found = dhcp.conflict(address, heardFrom: mac(77), now: 0)
        #expect(found.notice == .conflict(address, heardFrom: mac(77)))
        #expect(found.change == .held(address, until: 600), "the hold is stored, so a restart keeps it")
        let second = dhcp.handle(message(.discover, from: mac(1)), arrivedAsBroadcast: true, now: 0)
        #expect(second.reply?.message.yourAddress != address)
        #expect(second.probe == second.reply?.message.yourAddress)
        dhcp.probeSucceeded(try #require(second.probe), now: 0)
        #expect(dhcp.handle(message(.discover, from: mac(1)), arrivedAsBroadcast: true, now: 1).probe == nil, "probed a moment ago")
        #expect(dhcp.counters.conflicts == 1)
    }

    @Test func aHoldStoredBeforeARestartStillSetsTheAddressAside() {
        let restarted = RFC2131Server(configuration: configuration, holds: [(IPv4Address(192, 168, 131, 16), until: 600)])
        #expect(lease(restarted, mac(1), now: 10) == IPv4Address(192, 168, 131, 17))
        #expect(lease(restarted, mac(2), now: 601) == IPv4Address(192, 168, 131, 18))
        #expect(lease(restarted, mac(3), now: 601) == IPv4Address(192, 168, 131, 16), "free again once the hold ends")
    }

    @Test func aClientsOwnLeaseIsNotProbed() throws {
        let dhcp = RFC2131Server(configuration: configuration)
        let address = try #require(lease(dhcp, mac(1), now: 0))
        let again = dhcp.handle(message(.discover, from: mac(1)), arrivedAsBroadcast: true, now: 200)
        #expect(again.reply?.message.yourAddress == address && again.probe == nil)
    }

    // Item 12: a changed server address NAKs renewals to the former one for a lease time.
    @Test func renewalsToAFormerServerAreNAKedSoClientsMoveAtOnce() {
        let dhcp = RFC2131Server(configuration: configuration)
        let address = lease(dhcp, mac(1), now: 0) ?? .any
        var moved = configuration
        moved.network = IPv4Address(10, 9, 0, 0)
        moved.mask = IPv4Address(255, 255, 255, 0)
        moved.server = IPv4Address(10, 9, 0, 1)
        moved.rangeStart = IPv4Address(10, 9, 0, 16)
        moved.rangeEnd = IPv4Address(10, 9, 0, 20)
        moved.gateway = nil
        moved.dnsServers = []
        moved.winsServers = []
        dhcp.update(moved, now: 100)
        #expect(dhcp.isFormerServer(server, now: 100) && !dhcp.isFormerServer(moved.server, now: 100))
        let renewal = dhcp.handle(message(.request, from: mac(1), ciaddr: address), arrivedAsBroadcast: false, now: 300, addressedTo: server)
        #expect(renewal.reply?.message.messageType == .nak)
        #expect(renewal.reply?.sourceIP == server && renewal.reply?.message.serverIdentifier == server)
        #expect(!dhcp.isFormerServer(server, now: 100 + 600), "retired after one lease time")
        let offer = dhcp.handle(message(.discover, from: mac(1)), arrivedAsBroadcast: true, now: 301).reply?.message
        #expect(offer?.yourAddress == IPv4Address(10, 9, 0, 16) && offer?.serverIdentifier == moved.server)
    }

    // Item 13: the fixed fields of Table 3, relays, times.
    @Test func offersCarryNoCiaddrNoSiaddrWithoutBootAndRelayedNAKsAreBroadcastWithOption82() throws {
        let dhcp = RFC2131Server(configuration: configuration)
        var discover = message(.discover, from: mac(1), ciaddr: IPv4Address(192, 168, 131, 99))
        discover.relayAddress = .any
        let offer = try #require(dhcp.handle(discover, arrivedAsBroadcast: true, now: 0).reply?.message)
        #expect(offer.clientAddress == .any && offer.serverAddress == .any)
        var relayed = message(.request, from: mac(2), requested: IPv4Address(10, 0, 0, 1), serverID: server)
        relayed.relayAddress = IPv4Address(192, 168, 131, 250)
        relayed.set(.relayAgentInformation, [1, 3, 0x65, 0x74, 0x68])
        let nak = try #require(dhcp.handle(relayed, arrivedAsBroadcast: false, now: 0).reply)
        #expect(nak.message.messageType == .nak && nak.toRelay && nak.message.isBroadcastRequested)
        #expect(nak.message.option(.relayAgentInformation) == [1, 3, 0x65, 0x74, 0x68])
    }

    @Test func clientsStartedTogetherRenewAtDifferentTimes() {
        var wide = configuration
        wide.rangeEnd = IPv4Address(192, 168, 131, 100)
        wide.renewalTime = 43_200
        wide.rebindingTime = 75_600
        wide.leaseTime = 86_400
        let dhcp = RFC2131Server(configuration: wide)
        let renewals = Set((1...20 as ClosedRange<UInt8>).compactMap {
            dhcp.handle(message(.discover, from: mac($0)), arrivedAsBroadcast: true, now: 0).reply?.message.option(.renewalTime)
        })
        #expect(renewals.count > 15)
    }

    @Test func exhaustionCountsClientsNotRetriesAndNamesTheMAC() {
        let dhcp = RFC2131Server(configuration: configuration)
        for client in 1...3 as ClosedRange<UInt8> { _ = lease(dhcp, mac(client), now: 0) }
        var notices: [RFC2131Server.Notice] = []
        for _ in 0..<5 { notices += dhcp.handle(message(.discover, from: mac(4)), arrivedAsBroadcast: true, now: 1).notices }
        #expect(dhcp.counters.exhausted == 1)
        #expect(notices == [.poolExhausted(mac(4))])
    }

    // Item 14: host names.
    @Test func aReservationsHostNameIsSentAndANewHolderDoesNotInheritTheOldName() throws {
        let dhcp = RFC2131Server(configuration: withReservation(for: mac(9)))
        let offer = try #require(dhcp.handle(message(.discover, from: mac(9), parameters: [.subnetMask]), arrivedAsBroadcast: true, now: 0).reply)
        #expect(offer.message.option(.hostName) == Array("db".utf8))
        let named = RFC2131Server(configuration: configuration)
        _ = named.handle(message(.discover, from: mac(1), hostName: "alpha"), arrivedAsBroadcast: true, now: 0)
        _ = named.handle(message(.request, from: mac(1), requested: IPv4Address(192, 168, 131, 16), serverID: server, hostName: "alpha"),
                         arrivedAsBroadcast: true, now: 0)
        _ = named.handle(message(.release, from: mac(1), serverID: server, ciaddr: IPv4Address(192, 168, 131, 16)), arrivedAsBroadcast: false, now: 1)
        _ = named.handle(message(.request, from: mac(2), requested: IPv4Address(192, 168, 131, 16), serverID: server), arrivedAsBroadcast: true, now: 2)
        #expect(named.leases(now: 2).first { $0.mac == mac(2) }?.hostName == nil)
    }

    @Test func aClientSendingOnlyOption81IsNamed() {
        let dhcp = RFC2131Server(configuration: configuration)
        var request = message(.request, from: mac(1), requested: IPv4Address(192, 168, 131, 16), serverID: server)
        // Flags with E (wire format), two RCODEs, then "web" "lab".
        request.set(.clientFQDN, [0x05, 0, 0, 3] + Array("web".utf8) + [3] + Array("lab".utf8) + [0])
        _ = dhcp.handle(request, arrivedAsBroadcast: true, now: 0)
        #expect(dhcp.leases(now: 0).first?.hostName == "web")
    }

    // Network boot: PXE by architecture, iPXE its own file.
    @Test func pxeROMsGetTheirArchitecturesFileAndIPXEGetsItsScript() throws {
        var booting = configuration
        booting.boot = .init(nextServer: IPv4Address(192, 168, 131, 10), biosFile: "pxelinux.0", uefiFile: "bootx64.efi",
                             ipxeFile: "http://192.168.131.10/boot.ipxe")
        let dhcp = RFC2131Server(configuration: booting)
        func offer(architecture: UInt16?, ipxe: Bool) throws -> DHCPMessage {
            var discover = message(.discover, from: mac(1))
            if let architecture { discover.set(.clientArchitecture, [UInt8(architecture >> 8), UInt8(architecture & 0xFF)]) }
            if ipxe { discover.set(.userClass, Array("iPXE".utf8)) }
            return try #require(dhcp.handle(discover, arrivedAsBroadcast: true, now: 0).reply?.message)
        }
        let bios = try offer(architecture: 0, ipxe: false)
        #expect(bios.bootFile == Array("pxelinux.0".utf8) && bios.serverAddress == IPv4Address(192, 168, 131, 10))
        #expect(try offer(architecture: 7, ipxe: false).bootFile == Array("bootx64.efi".utf8))
        let chained = try offer(architecture: 0, ipxe: true)
        #expect(chained.bootFile == Array("http://192.168.131.10/boot.ipxe".utf8))
        let os = try offer(architecture: nil, ipxe: false)
        #expect(os.bootFile.isEmpty && os.serverAddress == .any, "an operating system's client is not sent to boot")
        // The serialized OFFER keeps the file in the BOOTP field, where PXE ROMs read it.
        let bytes = bios.serialized()
        #expect(Array(bytes[108..<118]) == Array("pxelinux.0".utf8) && bytes[118] == 0)
        #expect(Array(bytes[20..<24]) == [192, 168, 131, 10])
    }

    @Test func classlessRoutesAndTheSearchListAreEncodedAsTheRFCsSay() {
        #expect(ReplyOptions.classlessRoutes([
            .init(destination: IPv4Address(10, 0, 0, 0), prefixLength: 8, router: IPv4Address(192, 168, 131, 1)),
            .init(destination: .any, prefixLength: 0, router: IPv4Address(192, 168, 131, 254)),
        ]) == [8, 10, 192, 168, 131, 1, 0, 192, 168, 131, 254])  // RFC 3442 §3's examples, laid side by side
        #expect(ReplyOptions.searchList(["eng.apple.com", "marketing.apple.com"])
            == [3] + Array("eng".utf8) + [5] + Array("apple".utf8) + [3] + Array("com".utf8) + [0]
            + [9] + Array("marketing".utf8) + [5] + Array("apple".utf8) + [3] + Array("com".utf8) + [0])
    }
}
