import DNS
import Packets
import Testing

@Suite("DNS names")
struct DNSNameTests {
    @Test func textNamesAreCheckedAndCompareIgnoringCase() throws {
        let name = try DNSName("Web.LAB.vnetd.internal.")
        #expect(name == (try DNSName("web.lab.vnetd.internal")))
        #expect(!name.isSpelledLike(try DNSName("web.lab.vnetd.internal")))
        #expect(name.isSubdomain(of: try DNSName("vnetd.INTERNAL")))
        #expect(name.description == "Web.LAB.vnetd.internal.")
        #expect(throws: DNSMessageError.emptyLabel) { try DNSName("a..b") }
        #expect(throws: DNSMessageError.labelTooLong) { try DNSName(String(repeating: "x", count: 64) + ".lab") }
        #expect(throws: DNSMessageError.nameTooLong) { try DNSName(Array(repeating: String(repeating: "x", count: 63), count: 4).joined(separator: ".")) }
        #expect(try DNSName(Array(repeating: String(repeating: "x", count: 63), count: 3).joined(separator: ".") + "." + String(repeating: "y", count: 61)).wireLength == 255)
    }
}

@Suite("IPv6 addresses for AAAA records")
struct IPv6AddressBytesTests {
    @Test func textFormsParseToTheirBytes() {
        #expect(IPv6AddressBytes(parsing: "fd00:77::10")?.bytes == [0xfd, 0, 0, 0x77] + [UInt8](repeating: 0, count: 11) + [0x10])
        #expect(IPv6AddressBytes(parsing: "::1")?.bytes == [UInt8](repeating: 0, count: 15) + [1])
        #expect(IPv6AddressBytes(parsing: "::")?.bytes == [UInt8](repeating: 0, count: 16))
        #expect(IPv6AddressBytes(parsing: "1:2:3:4:5:6:7:8")?.description == "1:2:3:4:5:6:7:8")
        for bad in ["", ":::", "1::2::3", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "+1::", "12345::", "g::", "1:2:3:4::5:6:7:8"] {
            #expect(IPv6AddressBytes(parsing: bad) == nil, "\(bad)")
        }
        let bytes = (0..<16).map { UInt8($0 * 17) }
        #expect(IPv6AddressBytes(bytes: bytes)?.bytes == bytes)
        #expect(IPv6AddressBytes(bytes: [1, 2]) == nil)
    }
}
