import DNS
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
