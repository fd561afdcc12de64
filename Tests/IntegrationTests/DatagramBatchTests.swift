import Domain
import Foundation
import Packets
import Switching
import Testing
import TestSupport

/// QEMU datagram ports read with recvmmsg: frames in a burst arrive
/// whole, each once and in order, both ways. Sockets need no privileges.
@Suite("Datagram ports in batches")
struct DatagramBatchTests {
    @Test func burstsBetweenTwoDatagramPeersArriveWholeOnceAndInOrder() throws {
        let vnetd = try VnetdUnderTest()
        let lab = try vnetd.services.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        var nics: [VirtualNIC] = []
        for name in ["left", "right"] {
            let vm = try vnetd.services.vms.create(name: name, notes: "", connectingTo: lab.id)
            let nic = try vnetd.nic(of: vm)
            try vnetd.services.vms.configureNICs(of: vm.id, version: 1, [NICSetting(nicID: nic.id, networkID: lab.id, assignment: .dynamic, backend: .datagram)])
            nics.append(nic)
        }
        vnetd.settle()
        let peers = try nics.enumerated().map { index, nic in
            try DatagramPeer(localPath: vnetd.folder.path + "/peer\(index)", remotePath: try #require(vnetd.services.status.status(of: nic.id).endpoint))
        }
        func frame(from: Int, number: Int, size: Int) -> [UInt8] {
            EthernetBuilder.header(destination: nics[1 - from].mac, source: nics[from].mac, type: EtherType(rawValue: 0x88B5))
                + withUnsafeBytes(of: UInt32(number).bigEndian, Array.init) + [UInt8](repeating: UInt8(from), count: size - 18)
        }
        // Each side speaks once (to itself: nothing is delivered), so vnetd and the switch know both.
        for side in 0...1 {
            peers[side].send(EthernetBuilder.header(destination: nics[side].mac, source: nics[side].mac, type: EtherType(rawValue: 0x88B5))
                + [UInt8](repeating: 9, count: 46))
        }
        #expect(eventually { nics.allSatisfy { vnetd.services.status.status(of: $0.id).isAttached } })
        // Bursts of ten (the kernel queues ten datagrams per unix socket by default), sizes from
        // 60 to 9,000 bytes, each direction in turn.
        var number = 0
        for round in 0..<40 {
            let from = round % 2
            let burst = (0..<10).map { index in frame(from: from, number: number + index, size: [60, 1_514, 9_000][(round + index) % 3]) }
            burst.forEach(peers[from].send)
            var received: [[UInt8]] = []
            let mine = nics[1 - from].mac.octets
            _ = peers[1 - from].receive(seconds: 2) { frame in
                if frame.count >= 18, Array(frame[0..<6]) == mine { received.append(frame) }
                return received.count == burst.count
            }
            #expect(received == burst, "round \(round): \(received.count) of \(burst.count), in order and whole")
            number += 10
        }
        vnetd.settle()
        let drops = nics.map { vnetd.services.status.status(of: $0.id).counters.drops }
        #expect(drops.allSatisfy { $0.isEmpty }, "nothing dropped: \(drops)")
    }
}
