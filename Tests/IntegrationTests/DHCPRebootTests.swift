import DHCP
import Domain
import Foundation
import Packets
import Testing
import TestSupport

/// A client that remembers its address asks for it again after a restart (RFC 2131 §3.2,
/// INIT-REBOOT: a REQUEST with option 50, no server identifier, ciaddr 0), through the real data
/// path of a restarted vnetd. busybox udhcpc has no INIT-REBOOT, so the client speaks here.
@Suite("DHCP INIT-REBOOT through a restarted vnetd")
struct DHCPRebootTests {
    @Test func aRememberedAddressIsConfirmedAfterARestartAndAWrongOneIsRefused() throws {
        let vnetd = try VnetdUnderTest()
        let lab = try vnetd.services.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        var draft = DHCPDraft(try vnetd.services.dhcp.settings(of: lab.id))
        draft.isEnabled = true
        let settings = try vnetd.services.dhcp.update(lab.id, version: 0, draft)
        let nic = try vnetd.nic(of: try vnetd.services.vms.create(name: "vm", notes: "", connectingTo: lab.id))
        vnetd.settle()
        let path = try #require(vnetd.services.status.status(of: nic.id).endpoint)
        let (_, address) = try #require(try CrashTests.takeLease(through: try StreamPeer(path: path), as: nic.mac))
        try vnetd.restart()
        vnetd.settle()

        let peer = try StreamPeer(path: path)
        func initReboot(_ requested: IPv4Address) throws -> DHCPMessage? {
            let xid = UInt32.random(in: 1...UInt32.max)
            var request = DHCPMessage()
            request.op = 1
            request.transactionID = xid
            request.clientHardwareAddress = nic.mac
            request.set(.messageType, [DHCPMessageType.request.rawValue])
            request.set(.requestedAddress, requested.octets)
            var reply: DHCPMessage?
            _ = try peer.exchange(CrashTests.frame(request, from: nic.mac)) { frame in
                reply = CrashTests.reply(to: xid, in: frame, type: .ack) ?? CrashTests.reply(to: xid, in: frame, type: .nak)
                return reply != nil
            }
            return reply
        }
        let confirmed = try #require(try initReboot(address), "the server answers an INIT-REBOOT request")
        #expect(confirmed.option(.messageType) == [DHCPMessageType.ack.rawValue])
        #expect(confirmed.yourAddress == address, "the same address, kept across the restart")
        #expect(confirmed.serverIdentifier == settings.server)

        let other = address == settings.rangeEnd ? settings.rangeStart : IPv4Address(value: address.value + 1)
        let refused = try #require(try initReboot(other), "the server answers a wrong address too")
        #expect(refused.option(.messageType) == [DHCPMessageType.nak.rawValue], "an address that is not the client's is refused (NAK)")
    }

    /// A one-address pool: the address goes to the next VM only once the first VM is removed,
    /// which frees its lease in the store and in the running server.
    @Test func removingAVMFreesItsLeaseForTheNextVM() throws {
        let vnetd = try VnetdUnderTest()
        let lab = try vnetd.services.networks.create(NetworkDraft(name: "Lab", adapter: nil, notes: ""))
        var draft = DHCPDraft(try vnetd.services.dhcp.settings(of: lab.id))
        draft.isEnabled = true
        draft.rangeEnd = draft.rangeStart
        let settings = try vnetd.services.dhcp.update(lab.id, version: 0, draft)
        let first = try vnetd.services.vms.create(name: "first", notes: "", connectingTo: lab.id)
        let firstNIC = try vnetd.nic(of: first)
        let secondNIC = try vnetd.nic(of: try vnetd.services.vms.create(name: "second", notes: "", connectingTo: lab.id))
        vnetd.settle()
        let firstPeer = try StreamPeer(path: try #require(vnetd.services.status.status(of: firstNIC.id).endpoint))
        let secondPeer = try StreamPeer(path: try #require(vnetd.services.status.status(of: secondNIC.id).endpoint))
        let (_, address) = try #require(try CrashTests.takeLease(through: firstPeer, as: firstNIC.mac), "the first VM gets the pool's one address")
        #expect(address == settings.rangeStart)
        #expect(try CrashTests.takeLease(through: secondPeer, as: secondNIC.mac) == nil, "the pool is empty for the second")

        try vnetd.services.vms.remove(first.id)
        vnetd.settle()
        #expect(try vnetd.services.store.read { try $0.leases(of: firstNIC.mac) }.isEmpty, "its lease is gone from the store")
        let (_, again) = try #require(try CrashTests.takeLease(through: secondPeer, as: secondNIC.mac), "and the address is free for the next VM")
        #expect(again == address)
    }
}
