import Packets
import Testing
@testable import DHCP

/// DHCP bytes from outside the code under test, so the parser and serializer cannot grade
/// themselves: a DISCOVER captured from a real client, and an OFFER whose every field was
/// checked against an independent dissector.
@Suite("DHCP goldens from real clients and independent tools")
struct DHCPGoldenTests {
    /// The UDP payload of a DISCOVER from busybox 1.35.0 `udhcpc -V vnetd-golden -x hostname:golden
    /// -F golden.example` on a veth with MAC 52:54:00:12:34:56, captured with tcpdump (307 bytes).
    /// tcpdump -vv dissected it as: Request from 52:54:00:12:34:56, xid 0xf532594a, flags 0x0000;
    /// DHCP-Message Discover; MSZ 576; Parameter-Request 1, 3, 6, 12, 15, 28, 42; Hostname "golden";
    /// Vendor-Class "vnetd-golden"; Client-ID ether 52:54:00:12:34:56; FQDN [S] "golden.example".
    static let udhcpcDiscover: [UInt8] =
        [0x01, 0x01, 0x06, 0x00, 0xf5, 0x32, 0x59, 0x4a, 0x00, 0x00, 0x00, 0x00,  // op htype hlen hops, xid, secs flags
         0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // ciaddr yiaddr siaddr giaddr
         0x52, 0x54, 0x00, 0x12, 0x34, 0x56]  // chaddr
        + [UInt8](repeating: 0, count: 10 + 64 + 128)  // chaddr padding, sname, file
        + [0x63, 0x82, 0x53, 0x63,
           0x35, 0x01, 0x01,
           0x39, 0x02, 0x02, 0x40,
           0x37, 0x07, 0x01, 0x03, 0x06, 0x0c, 0x0f, 0x1c, 0x2a,
           0x0c, 0x06, 0x67, 0x6f, 0x6c, 0x64, 0x65, 0x6e,
           0x3c, 0x0c, 0x76, 0x6e, 0x65, 0x74, 0x64, 0x2d, 0x67, 0x6f, 0x6c, 0x64, 0x65, 0x6e,
           0x3d, 0x07, 0x01, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56,
           0x51, 0x11, 0x01, 0x00, 0x00, 0x67, 0x6f, 0x6c, 0x64, 0x65, 0x6e, 0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65,
           0xff]

    @Test func aDiscoverFromUdhcpcParsesToTheFieldsTcpdumpShows() throws {
        let bytes = Self.udhcpcDiscover
        #expect(bytes.count == 307)
        let message = try bytes.withUnsafeBytes { try DHCPMessage(parsing: $0) }
        #expect(message.op == 1 && message.hardwareType == 1 && message.hardwareLength == 6 && message.hops == 0)
        #expect(message.transactionID == 0xf532594a)
        #expect(message.seconds == 0 && message.flags == 0 && !message.isBroadcastRequested)
        #expect(message.clientAddress == .any && message.relayAddress == .any)
        #expect(message.clientHardwareAddress == MACAddress(parsing: "52:54:00:12:34:56"))
        #expect(message.messageType == .discover)
        #expect(message.maximumMessageSize == 576)
        #expect(message.parameterRequestList.map(\.rawValue) == [1, 3, 6, 12, 15, 28, 42])
        #expect(message.hostName == "golden")
        #expect(message.option(DHCPOptionCode(rawValue: 60)) == Array("vnetd-golden".utf8))
        #expect(message.clientIdentifier == [0x01, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56])
        #expect(message.option(DHCPOptionCode(rawValue: 81)) == [0x01, 0x00, 0x00] + Array("golden.example".utf8))
        #expect(message.options.map(\.code.rawValue) == [53, 57, 55, 12, 60, 61, 81], "in the order they were sent")
    }

    /// The server's answer to that DISCOVER (test `configuration`, now 0), as both tcpdump 4.99
    /// (`-vv`) and scapy 2.6 (`BOOTP(bytes).show()`) dissected it; the offsets are RFC 2131's.
    @Test func theOfferToThatDiscoverHasTheFieldsScapyAndTcpdumpShow() throws {
        let discover = try Self.udhcpcDiscover.withUnsafeBytes { try DHCPMessage(parsing: $0) }
        let reply = try #require(RFC2131Server(configuration: configuration).handle(discover, arrivedAsBroadcast: true, now: 0).reply)
        let wire = reply.message.serialized(maximumSize: 576 - 28)
        #expect(wire.count == 300, "BOOTP's minimum, as both dissectors read it")
        try #require(wire.count >= 240)
        #expect(wire[0] == 2, "op BOOTREPLY")
        #expect(wire[1] == 1 && wire[2] == 6 && wire[3] == 0, "htype Ethernet, hlen 6, hops 0")
        #expect(Array(wire[4..<8]) == [0xf5, 0x32, 0x59, 0x4a], "xid")
        #expect(Array(wire[8..<12]) == [0, 0, 0, 0], "secs 0, flags none")
        #expect(Array(wire[12..<16]) == [0, 0, 0, 0], "ciaddr 0.0.0.0")
        #expect(Array(wire[16..<20]) == [192, 168, 131, 16], "yiaddr")
        #expect(Array(wire[20..<24]) == [0, 0, 0, 0], "siaddr: no next server without network boot (RFC 2131 Table 3)")
        #expect(Array(wire[24..<28]) == [0, 0, 0, 0], "giaddr")
        #expect(Array(wire[28..<34]) == [0x52, 0x54, 0x00, 0x12, 0x34, 0x56], "chaddr")
        #expect(wire[34..<236].allSatisfy { $0 == 0 }, "chaddr padding, empty sname and file")
        #expect(Array(wire[236..<240]) == [0x63, 0x82, 0x53, 0x63], "magic cookie")

        // The options as type-length-value, read here without the product's parser.
        var options: [UInt8: [UInt8]] = [:]
        var order: [UInt8] = []
        var index = 240
        var sawEnd = false
        while index < wire.count {
            let code = wire[index]
            if code == 0 { index += 1; continue }
            if code == 255 { sawEnd = true; index += 1; break }
            try #require(index + 1 < wire.count && index + 2 + Int(wire[index + 1]) <= wire.count, "option \(code) fits")
            let length = Int(wire[index + 1])
            #expect(options[code] == nil, "option \(code) appears once")
            options[code] = Array(wire[(index + 2)..<(index + 2 + length)])
            order.append(code)
            index += 2 + length
        }
        #expect(sawEnd, "an end option")
        #expect(wire[index...].allSatisfy { $0 == 0 }, "only pad after the end")
        #expect(order.first == 53, "message type first")
        // T1 and T2 are moved earlier by up to 1/16 per client (RFC 2131 §4.4.5's fuzz).
        let t1 = (options.removeValue(forKey: 58) ?? []).reduce(0) { $0 << 8 | Int($1) }
        let t2 = (options.removeValue(forKey: 59) ?? []).reduce(0) { $0 << 8 | Int($1) }
        #expect((300 - 300 / 16)...300 ~= t1, "renewal_time about 300")
        #expect((525 - 225 / 16)...525 ~= t2 && t2 > t1, "rebinding_time about 525")
        #expect(options == [
            53: [2],                                  // message-type=offer
            54: [192, 168, 131, 1],                   // server_id
            51: [0, 0, 0x02, 0x58],                   // lease_time=600
            1: [255, 255, 255, 0],                    // subnet_mask
            3: [192, 168, 131, 254],                  // router
            6: [192, 168, 131, 2, 192, 168, 131, 3],  // name_server
            61: [0x01, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56],  // client_id, echoed (RFC 6842)
        ])
    }
}
