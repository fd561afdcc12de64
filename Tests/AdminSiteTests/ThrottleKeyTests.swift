import Domain
import Foundation
import Testing

/// An IPv6 client gets a whole /64 from its network, so sign-in throttling counts per /64.
@Suite("Sign-in throttle keys")
struct ThrottleKeyTests {
    @Test func failuresAnywhereInOneIPv6Slash64CountTogether() throws {
        let site = try SiteFixture(signedIn: false)
        for index in 1...5 {
            site.clientAddress = "2001:db8:1:2::\(String(index, radix: 16))"
            #expect(site.signIn(password: "guess guess").status == 403)
        }
        site.clientAddress = "2001:db8:1:2:ffff:ffff:ffff:fffe"
        #expect(site.signIn().status == 429, "a new interface identifier in the same /64 waits too")
        site.clientAddress = "2001:db8:1:3::1"
        #expect(site.signIn().status == 303, "the next /64 is another client")
    }

    @Test(arguments: [
        ("2001:db8:1:2::1", "2001:0db8:0001:0002:ffff:0:0:1", true),
        ("2001:db8::1", "2001:db8:0:0:1::", true),
        ("fe80::1%eth0", "fe80::2%eth1", true),
        ("2001:db8:1:2::1", "2001:db8:1:3::1", false),
        ("::ffff:192.0.2.1", "192.0.2.1", true),
        ("::ffff:192.0.2.1", "::ffff:192.0.2.2", false),
        ("192.0.2.1", "192.0.2.2", false),
        ("unknown address", "unknown address", true),
    ])
    func addressesShareAKeyExactlyWhenTheyShareAClient(first: String, second: String, same: Bool) {
        #expect((SignInThrottle.key(for: first) == SignInThrottle.key(for: second)) == same)
    }

    @Test func malformedAddressesAreTheirOwnKeys() {
        for text in ["2001:db8:::1", "1:2:3:4:5:6:7:8:9", "::ffff:300.0.0.1", "g::1", "+1::1", ""] {
            #expect(SignInThrottle.key(for: text) == text)
        }
    }
}
