import DNS
import Packets
import Testing

@Suite("DNS cache: TTLs, negative answers (RFC 2308), bounds")
struct DNSCacheTests {
    let name = dnsName("www.example.org")
    var key: DNSCache.Key { DNSCache.Key(name: name, type: .a, questionClass: .internet, dnssecOK: false) }

    func answer(_ ttls: [UInt32], code: DNSResponseCode = .noError, soa: (ttl: UInt32, minimum: UInt32)? = nil, for name: DNSName? = nil) -> DNSMessage {
        var message = DNSMessage()
        message.header.isResponse = true
        let owner = name ?? self.name
        message.questions = [DNSQuestion(name: owner, type: .a)]
        message.answers = ttls.enumerated().map { DNSRecord(name: owner, type: .a, ttl: $1, data: .a(IPv4Address(192, 0, 2, UInt8($0 + 1)))) }
        if let soa {
            message.authority = [DNSRecord(name: dnsName("example.org"), type: .soa, ttl: soa.ttl, data: .soa(StartOfAuthority(
                primaryServer: dnsName("ns.example.org"), responsibleMailbox: dnsName("hostmaster.example.org"),
                serial: 1, refresh: 3600, retry: 600, expire: 86_400, minimum: soa.minimum)))]
        }
        message.responseCode = code
        return message
    }

    @Test func positiveAnswersLiveForTheirSmallestTTL() {
        #expect(DNSCache.cacheSeconds(for: answer([300, 60])) == 60)
        #expect(DNSCache.cacheSeconds(for: answer([0])) == nil)
        #expect(DNSCache.cacheSeconds(for: answer([0x8000_0000])) == nil, "RFC 2181 §8: top bit set means 0")
        var truncated = answer([300])
        truncated.header.isTruncated = true
        #expect(DNSCache.cacheSeconds(for: truncated) == nil)
        #expect(DNSCache.cacheSeconds(for: answer([], code: .serverFailure)) == nil)
        #expect(DNSCache.cacheSeconds(for: answer([], code: .refused, soa: (60, 60))) == nil)
    }

    @Test func negativeAnswersLiveForTheSOAMinimumOrItsTTLWhicheverIsLess() {
        #expect(DNSCache.cacheSeconds(for: answer([], code: .nameError, soa: (3600, 300))) == 300)
        #expect(DNSCache.cacheSeconds(for: answer([], code: .nameError, soa: (120, 300))) == 120)
        #expect(DNSCache.cacheSeconds(for: answer([], code: .noError, soa: (3600, 30))) == 30, "NODATA")
        #expect(DNSCache.cacheSeconds(for: answer([], code: .nameError)) == nil, "no SOA: not cached (RFC 2308 §5)")
        #expect(DNSCache.cacheSeconds(for: answer([])) == nil)
    }

    @Test func aHitLowersTTLsAndTheEntryGoesWhenDue() throws {
        var cache = DNSCache()
        cache.store(answer([100, 40]), under: key, size: 80, now: 1_000)
        let found = cache.lookup(key, now: 13_999)
        let hit = try #require(found)
        #expect(hit.answers.map(\.ttl) == [28, 28], "each record kept no longer than the entry, less 12 whole seconds")
        let gone = cache.lookup(key, now: 41_000)
        #expect(gone == nil && cache.count == 0 && cache.byteCount == 0)
    }

    @Test func negativeHitServesTheSOAWithTheNegativeTTL() throws {
        var cache = DNSCache()
        cache.store(answer([], code: .nameError, soa: (3600, 300)), under: key, size: 90, now: 0)
        let found = cache.lookup(key, now: 100_000)
        let hit = try #require(found)
        #expect(hit.responseCode == .nameError && hit.authority.map(\.ttl) == [200])
    }

    @Test func boundedInEntriesAndBytesEvictingWhatExpiresFirst() {
        var cache = DNSCache(maximumEntries: 3, maximumBytes: 1000)
        func key(_ index: Int) -> DNSCache.Key { DNSCache.Key(name: dnsName("h\(index).example"), type: .a, questionClass: .internet, dnssecOK: false) }
        for (index, ttl) in [300, 100, 200].enumerated() { cache.store(answer([UInt32(ttl)], for: dnsName("h\(index).example")), under: key(index), size: 100, now: 0) }
        cache.store(answer([400], for: dnsName("h3.example")), under: key(3), size: 100, now: 0)
        let evicted = cache.lookup(key(1), now: 1), kept = cache.lookup(key(3), now: 1)
        #expect(cache.count == 3 && evicted == nil && kept != nil && cache.evictions == 1)
        cache.store(answer([500], for: dnsName("h4.example")), under: key(4), size: 900, now: 0)
        let large = cache.lookup(key(4), now: 1)
        #expect(cache.byteCount <= 1000 && large != nil)
        cache.store(answer([500], for: dnsName("h5.example")), under: key(5), size: 2000, now: 0)
        let tooLarge = cache.lookup(key(5), now: 1)
        #expect(tooLarge == nil, "an answer larger than the whole cache is not kept")
    }

    @Test func cappedAtTheMaximumTTL() throws {
        var cache = DNSCache(maximumTTL: 3600)
        cache.store(answer([604_800]), under: key, size: 80, now: 0)
        let capped = cache.lookup(key, now: 0), expired = cache.lookup(key, now: 3_600_000)
        #expect(capped?.answers.map(\.ttl) == [3600] && expired == nil)
    }
}
