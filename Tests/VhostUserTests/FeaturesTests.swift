import Testing
@testable import VhostUser

@Suite struct FeaturesTests {
    @Test func offeredSetIsWhatQEMUNeedsForANetDevice() {
        let offered = VirtioFeatures.offered
        #expect(offered.rawValue & (1 << 32) != 0)   // VERSION_1
        #expect(offered.rawValue & (1 << 29) != 0)   // EVENT_IDX
        #expect(offered.rawValue & (1 << 28) != 0)   // INDIRECT_DESC
        #expect(offered.rawValue & (1 << 15) != 0)   // MRG_RXBUF
        #expect(offered.rawValue & (1 << 30) != 0)   // PROTOCOL_FEATURES
        #expect(offered.rawValue & (1 << 26) == 0)   // no LOG_ALL: no migration
        #expect(offered.guestTakesOffloads)
        #expect(ProtocolFeatures.offered.rawValue == 1 << 3)  // REPLY_ACK only
    }

    @Test func headerSizeFollowsVersionAndMergeableBuffers() {
        #expect(VirtioFeatures([]).netHeaderSize == 10)
        #expect(VirtioFeatures([.version1]).netHeaderSize == 12)
        #expect(VirtioFeatures([.mergeableReceiveBuffers]).netHeaderSize == 12)
        #expect(!VirtioFeatures([.guestChecksum, .guestTSO4]).guestTakesOffloads)
    }
}
