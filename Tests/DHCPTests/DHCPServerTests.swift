import Packets
import Testing
@testable import DHCP

let server = IPv4Address(192, 168, 131, 1)
let configuration = DHCPConfiguration(
    network: IPv4Address(192, 168, 131, 0), mask: IPv4Address(255, 255, 255, 0),
    rangeStart: IPv4Address(192, 168, 131, 16), rangeEnd: IPv4Address(192, 168, 131, 18), server: server,
    gateway: IPv4Address(192, 168, 131, 254), dnsServers: [IPv4Address(192, 168, 131, 2), IPv4Address(192, 168, 131, 3)],
    winsServers: [IPv4Address(192, 168, 131, 4)], leaseTime: 600, renewalTime: 300, rebindingTime: 525)

func mac(_ last: UInt8) -> MACAddress { MACAddress(value: 0x0003FF000000 | UInt64(last)) }

func message(_ type: DHCPMessageType, from client: MACAddress, xid: UInt32 = 7, requested: IPv4Address? = nil, serverID: IPv4Address? = nil,
             ciaddr: IPv4Address = .any, broadcastFlag: Bool = false, parameters: [DHCPOptionCode] = [], clientID: [UInt8]? = nil,
             hostName: String? = nil) -> DHCPMessage {
    var m = DHCPMessage()
    m.op = 1
    m.transactionID = xid
    m.clientHardwareAddress = client
    m.clientAddress = ciaddr
    m.flags = broadcastFlag ? 0x8000 : 0
    m.set(.messageType, [type.rawValue])
    if let requested { m.set(.requestedAddress, requested.octets) }
    if let serverID { m.set(.serverIdentifier, serverID.octets) }
    if !parameters.isEmpty { m.set(.parameterRequestList, parameters.map(\.rawValue)) }
    if let clientID { m.set(.clientIdentifier, clientID) }
    if let hostName { m.set(.hostName, Array(hostName.utf8)) }
    return m
}

/// DISCOVER, then REQUEST the offered address; returns the address.
@discardableResult
func lease(_ dhcp: RFC2131Server, _ client: MACAddress, now: Int64) -> IPv4Address? {
    guard let offer = dhcp.handle(message(.discover, from: client), arrivedAsBroadcast: true, now: now).reply else { return nil }
    let ack = dhcp.handle(message(.request, from: client, requested: offer.message.yourAddress, serverID: server), arrivedAsBroadcast: true, now: now)
    return ack.reply?.message.messageType == .ack ? ack.reply?.message.yourAddress : nil
}

@Suite("RFC 2131 server scenarios")
struct DHCPServerTests {
    @Test func discoverOffersTheFirstFreeAddressWithTheAskedOptions() throws {
        let dhcp = RFC2131Server(configuration: configuration)
        let outcome = dhcp.handle(message(.discover, from: mac(1), parameters: [.subnetMask, .router, .domainNameServer]), arrivedAsBroadcast: true, now: 0)
        let offer = try #require(outcome.reply)
        #expect(outcome.changes.isEmpty)
        #expect(offer.message.messageType == .offer)
        #expect(offer.message.yourAddress == IPv4Address(192, 168, 131, 16))
        #expect(offer.message.serverIdentifier == server)
        #expect(offer.message.option(.router) == [192, 168, 131, 254])
        #expect(offer.message.option(.domainNameServer) == [192, 168, 131, 2, 192, 168, 131, 3])
        #expect(offer.message.option(.netbiosNameServer) == nil, "WINS was not asked for")
        #expect(offer.message.option(.leaseTime) == [0, 0, 2, 88])
        // T1 and T2 are moved earlier by up to 1/16, per client (VMs started together spread out).
        let t1 = try #require(offer.message.option(.renewalTime)).reduce(0) { $0 << 8 | Int($1) }
        let t2 = try #require(offer.message.option(.rebindingTime)).reduce(0) { $0 << 8 | Int($1) }
        #expect((300 - 300 / 16)...300 ~= t1)
        #expect((525 - 225 / 16)...525 ~= t2)
        // No broadcast flag: unicast to the offered address at the client's MAC.
        #expect(offer.destinationMAC == mac(1))
        #expect(offer.destinationIP == IPv4Address(192, 168, 131, 16))
    }

    @Test func broadcastFlagMakesTheReplyBroadcast() throws {
        let dhcp = RFC2131Server(configuration: configuration)
        let offer = try #require(dhcp.handle(message(.discover, from: mac(1), broadcastFlag: true), arrivedAsBroadcast: true, now: 0).reply)
        #expect(offer.destinationMAC == .broadcast && offer.destinationIP == .broadcast)
    }

    @Test func selectingRequestIsAcknowledgedAndTheLeaseMustBeStoredFirst() throws {
        let dhcp = RFC2131Server(configuration: configuration)
        _ = dhcp.handle(message(.discover, from: mac(1), hostName: "web"), arrivedAsBroadcast: true, now: 0)
        let outcome = dhcp.handle(message(.request, from: mac(1), requested: IPv4Address(192, 168, 131, 16), serverID: server, hostName: "web"), arrivedAsBroadcast: true, now: 5)
        #expect(outcome.reply?.message.messageType == .ack)
        #expect(outcome.changes == [.bound(Lease(address: IPv4Address(192, 168, 131, 16), mac: mac(1), clientID: [], hostName: "web", expires: 605))])
        #expect(dhcp.leases(now: 5).map(\.address) == [IPv4Address(192, 168, 131, 16)])
    }

    @Test func twoClientsGetDistinctAddressesAndTheSameClientKeepsItsOwn() {
        let dhcp = RFC2131Server(configuration: configuration)
        let first = lease(dhcp, mac(1), now: 0)
        let second = lease(dhcp, mac(2), now: 0)
        #expect(first != nil && second != nil && first != second)
        #expect(lease(dhcp, mac(1), now: 100) == first)
    }

    @Test func aRequestForAnotherServerWithdrawsOurOfferSilently() {
        let dhcp = RFC2131Server(configuration: configuration)
        _ = dhcp.handle(message(.discover, from: mac(1)), arrivedAsBroadcast: true, now: 0)
        let outcome = dhcp.handle(message(.request, from: mac(1), requested: IPv4Address(192, 168, 131, 16), serverID: IPv4Address(10, 0, 0, 1)), arrivedAsBroadcast: true, now: 1)
        #expect(outcome == RFC2131Server.Outcome())
        // The address is free again at once: three more clients get the whole range.
        let granted = Set([2, 3, 4].compactMap { lease(dhcp, mac($0), now: 2) })
        #expect(granted == [IPv4Address(192, 168, 131, 16), IPv4Address(192, 168, 131, 17), IPv4Address(192, 168, 131, 18)])
    }

    @Test func selectingAnAddressWeDidNotOfferIsRefused() {
        let dhcp = RFC2131Server(configuration: configuration)
        lease(dhcp, mac(1), now: 0)
        let outcome = dhcp.handle(message(.request, from: mac(2), requested: IPv4Address(192, 168, 131, 16), serverID: server), arrivedAsBroadcast: true, now: 1)
        #expect(outcome.reply?.message.messageType == .nak)
        #expect(outcome.reply?.destinationIP == .broadcast)
        #expect(outcome.changes.isEmpty)
    }

    @Test func initRebootKeepsAKnownLeaseRefusesForeignAddressesAndIsSilentForStrangersBesideALAN() {
        var external = configuration
        external.isAuthoritative = false
        let dhcp = RFC2131Server(configuration: external)
        let address = lease(dhcp, mac(1), now: 0)
        let reboot = dhcp.handle(message(.request, from: mac(1), requested: address), arrivedAsBroadcast: true, now: 100)
        #expect(reboot.reply?.message.messageType == .ack)
        let foreign = dhcp.handle(message(.request, from: mac(1), requested: IPv4Address(10, 1, 1, 1)), arrivedAsBroadcast: true, now: 100)
        #expect(foreign.reply?.message.messageType == .nak)
        let taken = dhcp.handle(message(.request, from: mac(2), requested: address), arrivedAsBroadcast: true, now: 100)
        #expect(taken.reply == nil, "a client it does not know may hold a LAN server's lease")
        let stranger = dhcp.handle(message(.request, from: mac(3), requested: IPv4Address(192, 168, 131, 17)), arrivedAsBroadcast: true, now: 100)
        #expect(stranger.reply == nil)
    }

    @Test func renewingExtendsTheLeaseByUnicastAndRebindingWorksByBroadcast() throws {
        var external = configuration
        external.isAuthoritative = false
        let dhcp = RFC2131Server(configuration: external)
        let address = try #require(lease(dhcp, mac(1), now: 0))
        let renew = dhcp.handle(message(.request, from: mac(1), ciaddr: address), arrivedAsBroadcast: false, now: 300)
        #expect(renew.reply?.message.messageType == .ack)
        #expect(renew.reply?.destinationIP == address)
        #expect(renew.changes == [.bound(Lease(address: address, mac: mac(1), clientID: [], hostName: nil, expires: 900))])
        let rebind = dhcp.handle(message(.request, from: mac(1), ciaddr: address), arrivedAsBroadcast: true, now: 800)
        #expect(rebind.reply?.message.messageType == .ack)
        // Rebinding for an address we know nothing about (another server's): silence.
        let other = dhcp.handle(message(.request, from: mac(9), ciaddr: IPv4Address(192, 168, 131, 18)), arrivedAsBroadcast: true, now: 800)
        #expect(other.reply == nil)
    }

    @Test func expiredLeasesFreeTheirAddress() {
        let dhcp = RFC2131Server(configuration: configuration)
        #expect(lease(dhcp, mac(1), now: 0) == IPv4Address(192, 168, 131, 16))
        #expect(lease(dhcp, mac(2), now: 0) == IPv4Address(192, 168, 131, 17))
        #expect(lease(dhcp, mac(3), now: 0) == IPv4Address(192, 168, 131, 18))
        #expect(lease(dhcp, mac(4), now: 100) == nil)
        #expect(dhcp.counters.exhausted == 1)
        #expect(lease(dhcp, mac(4), now: 601) == IPv4Address(192, 168, 131, 16))
    }

    @Test func offersAreHeldOnlyBriefly() {
        let dhcp = RFC2131Server(configuration: configuration)
        for client in 1...3 as ClosedRange<UInt8> { _ = dhcp.handle(message(.discover, from: mac(client)), arrivedAsBroadcast: true, now: 0) }
        #expect(dhcp.handle(message(.discover, from: mac(4)), arrivedAsBroadcast: true, now: 10).reply == nil)
        #expect(dhcp.handle(message(.discover, from: mac(4)), arrivedAsBroadcast: true, now: 61).reply != nil)
    }

    @Test func declineSetsTheAddressAsideForAWhile() throws {
        let dhcp = RFC2131Server(configuration: configuration)
        let address = try #require(lease(dhcp, mac(1), now: 0))
        let outcome = dhcp.handle(message(.decline, from: mac(1), requested: address, serverID: server), arrivedAsBroadcast: true, now: 1)
        #expect(outcome.changes == [.released(address), .held(address, until: 601)])
        #expect(outcome.reply == nil)
        let again = lease(dhcp, mac(1), now: 2)
        #expect(again != nil && again != address, "the client gets another address, not none")
        let other = lease(dhcp, mac(2), now: 2)
        #expect(other != nil && other != address)
        #expect(lease(dhcp, mac(3), now: 601 + 600) == address)
    }

    @Test func releaseFreesTheAddressAndOnlyItsHolderCanReleaseIt() throws {
        let dhcp = RFC2131Server(configuration: configuration)
        let address = try #require(lease(dhcp, mac(1), now: 0))
        let forged = dhcp.handle(message(.release, from: mac(2), serverID: server, ciaddr: address), arrivedAsBroadcast: false, now: 1)
        #expect(forged.changes.isEmpty)
        let release = dhcp.handle(message(.release, from: mac(1), serverID: server, ciaddr: address), arrivedAsBroadcast: false, now: 1)
        // The lease ends, the record stays (RFC 2131 §4.3.4): the client can have it back.
        #expect(release.changes == [.bound(Lease(address: address, mac: mac(1), clientID: [], hostName: nil, expires: 1))])
        #expect(dhcp.leases(now: 1).isEmpty)
        let granted = Set([2, 3, 4].compactMap { lease(dhcp, mac($0), now: 2) })
        #expect(granted.contains(address) && granted.count == 3)
    }

    @Test func informAnswersOptionsWithoutALease() throws {
        let dhcp = RFC2131Server(configuration: configuration)
        let outcome = dhcp.handle(message(.inform, from: mac(1), ciaddr: IPv4Address(192, 168, 131, 50), parameters: [.netbiosNameServer]), arrivedAsBroadcast: false, now: 0)
        let reply = try #require(outcome.reply)
        #expect(reply.message.messageType == .ack)
        #expect(reply.message.yourAddress == .any)
        #expect(reply.message.option(.leaseTime) == nil)
        #expect(reply.message.option(.netbiosNameServer) == [192, 168, 131, 4])
        #expect(reply.destinationIP == IPv4Address(192, 168, 131, 50))
        #expect(outcome.changes.isEmpty)
    }

    @Test func reservationsAlwaysWinAndAreNeverOfferedToAnyoneElse() {
        var reserved = configuration
        reserved.reservations = [mac(9): .init(address: IPv4Address(192, 168, 131, 16), hostName: "db")]
        let dhcp = RFC2131Server(configuration: reserved)
        #expect(lease(dhcp, mac(1), now: 0) == IPv4Address(192, 168, 131, 17))
        #expect(lease(dhcp, mac(2), now: 0) == IPv4Address(192, 168, 131, 18))
        #expect(lease(dhcp, mac(3), now: 0) == nil, "the reserved address is not for mac 3")
        #expect(lease(dhcp, mac(9), now: 0) == IPv4Address(192, 168, 131, 16))
    }

    @Test func aReservationOutsideTheRangeStillWorks() {
        var reserved = configuration
        reserved.reservations = [mac(9): .init(address: IPv4Address(192, 168, 131, 200), hostName: nil)]
        let dhcp = RFC2131Server(configuration: reserved)
        #expect(lease(dhcp, mac(9), now: 0) == IPv4Address(192, 168, 131, 200))
    }

    @Test func theSameClientIdentifierFromAnotherNICIsAnotherClient() {
        // Cloned VMs keep one DUID; vnetd knows their NICs apart (issue 12, item 5).
        let dhcp = RFC2131Server(configuration: configuration)
        let id: [UInt8] = [0, 1, 2, 3]
        let offer = dhcp.handle(message(.discover, from: mac(1), clientID: id), arrivedAsBroadcast: true, now: 0).reply
        let address = offer?.message.yourAddress
        _ = dhcp.handle(message(.request, from: mac(1), requested: address, serverID: server, clientID: id), arrivedAsBroadcast: true, now: 0)
        let clone = dhcp.handle(message(.discover, from: mac(2), clientID: id), arrivedAsBroadcast: true, now: 10).reply
        #expect(clone != nil && clone?.message.yourAddress != address)
        #expect(clone?.message.option(.clientIdentifier) == id)
        let stolen = dhcp.handle(message(.request, from: mac(2), requested: address, clientID: id), arrivedAsBroadcast: true, now: 10)
        #expect(stolen.reply?.message.messageType == .nak)
        #expect(dhcp.leases(now: 10).map(\.mac) == [mac(1)])
    }

    @Test func aRangeChangeEndsLeasesOutsideItAtTheirNextRenewal() throws {
        let dhcp = RFC2131Server(configuration: configuration)
        let address = try #require(lease(dhcp, mac(1), now: 0))
        var moved = configuration
        moved.rangeStart = IPv4Address(192, 168, 131, 100)
        moved.rangeEnd = IPv4Address(192, 168, 131, 110)
        dhcp.update(moved, now: 0)
        let renew = dhcp.handle(message(.request, from: mac(1), ciaddr: address), arrivedAsBroadcast: false, now: 300)
        #expect(renew.reply?.message.messageType == .nak)
        #expect(lease(dhcp, mac(1), now: 301) == IPv4Address(192, 168, 131, 100))
    }

    @Test func aRelayInsideTheNetworkIsAnsweredThereAndOthersAreIgnored() throws {
        let dhcp = RFC2131Server(configuration: configuration)
        var relayed = message(.discover, from: mac(1))
        relayed.relayAddress = IPv4Address(10, 0, 0, 1)
        #expect(dhcp.handle(relayed, arrivedAsBroadcast: true, now: 0).reply == nil)
        var local = message(.discover, from: mac(1))
        local.relayAddress = IPv4Address(192, 168, 131, 5)
        let offer = try #require(dhcp.handle(local, arrivedAsBroadcast: true, now: 0).reply)
        #expect(offer.toRelay)
        #expect(offer.destinationIP == IPv4Address(192, 168, 131, 5))
        #expect(offer.message.relayAddress == IPv4Address(192, 168, 131, 5))
        #expect(offer.message.yourAddress == IPv4Address(192, 168, 131, 16))
        var fromServer = message(.offer, from: mac(1))
        fromServer.op = 2
        #expect(dhcp.handle(fromServer, arrivedAsBroadcast: true, now: 0).reply == nil)
        #expect(dhcp.counters.ignored == 2)  // the foreign relay and the server's own message
    }
}

@Suite("DHCP message format")
struct DHCPMessageTests {
    @Test func aDiscoverRoundTripsByteForByte() throws {
        let discover = message(.discover, from: mac(1), xid: 0x3903F326, parameters: [.subnetMask, .router, .domainNameServer], hostName: "web")
        let bytes = discover.serialized()
        #expect(bytes.count == 300)
        #expect(Array(bytes[0..<12]) == [1, 1, 6, 0, 0x39, 0x03, 0xF3, 0x26, 0, 0, 0, 0])
        #expect(Array(bytes[28..<34]) == [0x00, 0x03, 0xFF, 0x00, 0x00, 0x01])
        #expect(Array(bytes[236..<240]) == [99, 130, 83, 99])
        #expect(Array(bytes[240..<243]) == [53, 1, 1])
        let parsed = try bytes.withUnsafeBytes { try DHCPMessage(parsing: $0) }
        #expect(parsed == discover)
        #expect(parsed.hostName == "web")
        #expect(parsed.parameterRequestList == [.subnetMask, .router, .domainNameServer])
    }

    @Test func longOptionsAreSplitAndJoinedAgain() throws {
        var m = message(.ack, from: mac(1))
        let many = (0..<80).flatMap { IPv4Address(10, 0, 0, UInt8($0)).octets }  // 320 bytes: two pieces
        m.set(.domainNameServer, many)
        let bytes = m.serialized(maximumSize: 1500)
        let parsed = try bytes.withUnsafeBytes { try DHCPMessage(parsing: $0) }
        #expect(parsed.option(.domainNameServer) == many)
    }

    @Test func optionsTooLongForTheMessageOverflowIntoFileAndSname() throws {
        var m = message(.ack, from: mac(1))
        m.set(.domainNameServer, (0..<60).flatMap { IPv4Address(10, 0, 1, UInt8($0)).octets })  // 240 bytes
        m.set(.netbiosNameServer, (0..<25).flatMap { IPv4Address(10, 0, 2, UInt8($0)).octets })  // 100 bytes
        let bytes = m.serialized(maximumSize: 576 - 28)
        #expect(bytes.count <= 576 - 28)
        let parsed = try bytes.withUnsafeBytes { try DHCPMessage(parsing: $0) }
        #expect(parsed.option(.domainNameServer)?.count == 240)
        #expect(parsed.option(.netbiosNameServer)?.count == 100)
        #expect(parsed.option(.overload) == nil, "option 52 is consumed while parsing")
        #expect(bytes[108] == DHCPOptionCode.netbiosNameServer.rawValue || bytes[108] == DHCPOptionCode.domainNameServer.rawValue)
    }

    @Test func malformedMessagesAreErrorsNeverTraps() {
        #expect(throws: DHCPMessage.ParseError.tooShort) { try [UInt8](repeating: 0, count: 100).withUnsafeBytes { try DHCPMessage(parsing: $0) } }
        var bytes = message(.discover, from: mac(1)).serialized()
        bytes[236] = 0
        #expect(throws: DHCPMessage.ParseError.badCookie) { try bytes.withUnsafeBytes { try DHCPMessage(parsing: $0) } }
        var truncated = Array(message(.discover, from: mac(1)).serialized()[0..<240])
        truncated += [53, 5, 1]
        #expect(throws: DHCPMessage.ParseError.truncatedOption) { try truncated.withUnsafeBytes { try DHCPMessage(parsing: $0) } }
        var generator = SystemRandomNumberGenerator()
        let valid = message(.request, from: mac(1), requested: IPv4Address(1, 2, 3, 4), serverID: server).serialized()
        for _ in 0..<3000 {
            var fuzzed = valid
            for _ in 0..<Int.random(in: 1...8, using: &generator) {
                fuzzed[Int.random(in: 0..<fuzzed.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            }
            fuzzed = Array(fuzzed.prefix(Int.random(in: 0...fuzzed.count, using: &generator)))
            if let parsed = try? fuzzed.withUnsafeBytes({ try DHCPMessage(parsing: $0) }) {
                _ = RFC2131Server(configuration: configuration).handle(parsed, arrivedAsBroadcast: true, now: 0)
            }
        }
    }
}
