import Testing
@testable import Packets

@Suite("MAC and IPv4 addresses")
struct AddressTests {
    @Test(arguments: ["00-03-FF-12-34-56", "00:03:ff:12:34:56", "0003FF123456", "00:03:FF:12:34:56", "0003ff123456"])
    func macParsesEveryAcceptedForm(text: String) throws {
        let mac = try #require(MACAddress(parsing: text))
        #expect(mac.value == 0x0003FF123456)
        #expect(mac.description == "00:03:ff:12:34:56")
        #expect(mac.formatted(separator: "-", uppercase: true) == "00-03-FF-12-34-56")
        #expect(mac.octets == [0x00, 0x03, 0xFF, 0x12, 0x34, 0x56])
        #expect(mac.prefix == 0x0003FF)
    }

    @Test(arguments: ["", "00:03:ff:12:34", "00:03:ff:12:34:5g", "00:03-ff:12:34:56", "00.03.ff.12.34.56",
                      "0003FF12345", "0003FF1234567", " 00:03:ff:12:34:56", "00:03:ff:12:34:56 ", "+0:03:ff:12:34:56"])
    func macRefusesMalformedText(text: String) {
        #expect(MACAddress(parsing: text) == nil)
    }

    @Test func macKnowsItsKind() throws {
        let unicast = try #require(MACAddress(parsing: "00:03:ff:00:00:01"))
        #expect(unicast.isUnicast && !unicast.isMulticast && !unicast.isZero && !unicast.isLocallyAdministered)
        let multicast = try #require(MACAddress(parsing: "01:00:5e:00:00:01"))
        #expect(multicast.isMulticast && !multicast.isUnicast && !multicast.isBroadcast)
        #expect(MACAddress.broadcast.isBroadcast && MACAddress.broadcast.isMulticast)
        #expect(MACAddress.zero.isZero && MACAddress.zero.isUnicast)
        #expect(try #require(MACAddress(parsing: "02:00:00:00:00:01")).isLocallyAdministered)
        #expect(MACAddress(octets: [1, 2, 3]) == nil)
    }

    @Test func ipv4ParsesStrictDottedQuads() {
        #expect(IPv4Address(parsing: "192.168.131.1") == IPv4Address(192, 168, 131, 1))
        #expect(IPv4Address(parsing: "0.0.0.0") == .any)
        #expect(IPv4Address(parsing: "255.255.255.255") == .broadcast)
        #expect(IPv4Address(192, 168, 131, 1).description == "192.168.131.1")
        for bad in ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.-4", "1..3.4", " 1.2.3.4", "1.2.3.4 ", "a.b.c.d", "1.2.3.0x1"] {
            #expect(IPv4Address(parsing: bad) == nil, "\(bad)")
        }
        #expect(IPv4Address(224, 0, 0, 1).isMulticast)
        #expect(IPv4Address(127, 0, 0, 1).isLoopback)
    }
}
