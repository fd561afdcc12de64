import Packets
import Testing
@testable import Switching

/// A switch with two VM ports (1: a, 2: b), an uplink (3, host adapter h) and the DHCP server (4, s).
private final class Network {
    let fabric = VirtualSwitch(name: "policy")
    let ports: [UInt32: MemoryPort] = [1: MemoryPort(), 2: MemoryPort(), 3: MemoryPort(), 4: MemoryPort()]
    static let host: UInt64 = 0x5254_0012_3456, server: UInt64 = 0x0256_4E44_0004, lanHost: UInt64 = 0x0200_0000_0099

    init(spoofingOn2: Bool = false) {
        fabric.attach(PortID(1), sink: ports[1]!, role: .vm(mac: MACAddress(value: a), allowsSpoofing: false))
        fabric.attach(PortID(2), sink: ports[2]!, role: .vm(mac: MACAddress(value: b), allowsSpoofing: spoofingOn2))
        fabric.attach(PortID(3), sink: ports[3]!, role: .uplink(adapterMAC: MACAddress(value: Self.host)))
        fabric.attach(PortID(4), sink: ports[4]!, role: .service(mac: MACAddress(value: Self.server)))
    }

    func send(_ bytes: [UInt8], from port: UInt32) {
        bytes.withUnsafeBytes { fabric.receive($0, from: PortID(port), now: 1_000) }
    }

    func delivered() -> [UInt32: Int] {
        var result: [UInt32: Int] = [:]
        for (id, port) in ports { result[id] = port.take().count }
        return result
    }

    func rxDrops(_ port: UInt32) -> DropCounts { fabric.counters(of: PortID(port))?.rxDrops ?? DropCounts() }
    func txDrops(_ port: UInt32) -> DropCounts { fabric.counters(of: PortID(port))?.txDrops ?? DropCounts() }
}

private func dhcp(from source: UInt64, to destination: UInt64 = broadcast, sourcePort: UInt16, destinationPort: UInt16) -> [UInt8] {
    UDPDatagram.frame(sourceMAC: MACAddress(value: source), destinationMAC: MACAddress(value: destination), source: .any, destination: .broadcast,
                      sourcePort: sourcePort, destinationPort: destinationPort, payload: [UInt8](repeating: 0, count: 240))
}

@Suite("Switch policies: link-local frames, pinned addresses, spoofing, DHCP guard")
struct SwitchPolicyTests {
    @Test func bpdusLACPAndPauseFramesReachNoPortAndAreCounted() {
        let network = Network()
        for destination: UInt64 in [0x0180_C200_0000, 0x0180_C200_0002, 0x0180_C200_000E, 0x0180_C200_000F] {
            network.send(frame(from: a, to: destination), from: 1)
        }
        var pause = EthernetBuilder.header(destination: MACAddress(value: 0x0180_C200_0001), source: MACAddress(value: a), type: EtherType(rawValue: 0x8808))
        pause += [0x00, 0x01, 0xFF, 0xFF] + [UInt8](repeating: 0, count: 42)
        network.send(pause, from: 1)
        // A PAUSE frame is one even to another destination.
        network.send(EthernetBuilder.header(destination: MACAddress(value: broadcast), source: MACAddress(value: a), type: EtherType(rawValue: 0x8808)) + [UInt8](repeating: 0, count: 46), from: 1)
        #expect(network.delivered() == [1: 0, 2: 0, 3: 0, 4: 0])
        #expect(network.rxDrops(1).linkLocal == 6)
        // From the LAN, too: a LAN switch's BPDUs never reach the VMs.
        network.send(frame(from: Network.lanHost, to: 0x0180_C200_0000), from: 3)
        #expect(network.delivered() == [1: 0, 2: 0, 3: 0, 4: 0])
        // Just outside the reserved block: an ordinary multicast, flooded.
        network.send(frame(from: a, to: 0x0180_C200_0010), from: 1)
        #expect(network.delivered() == [1: 0, 2: 1, 3: 1, 4: 1])
    }

    @Test func aVMSendsOnlyFromItsOwnMACUnlessSpoofingIsAllowed() {
        let network = Network(spoofingOn2: true)
        network.send(frame(from: c, to: broadcast), from: 1)
        #expect(network.delivered() == [1: 0, 2: 0, 3: 0, 4: 0])
        #expect(network.rxDrops(1).spoofedSource == 1)
        #expect(network.fabric.table.port(of: MACAddress(value: c), now: 1_000) == nil, "a spoofed source is never learned")
        network.send(frame(from: a, to: broadcast), from: 1)
        #expect(network.delivered() == [1: 0, 2: 1, 3: 1, 4: 1])
        // Port 2 allows spoofing: a nested VM behind it is learned there.
        network.send(frame(from: c, to: broadcast), from: 2)
        #expect(network.delivered() == [1: 1, 2: 0, 3: 1, 4: 1])
        #expect(network.fabric.table.port(of: MACAddress(value: c), now: 1_000) == PortID(2))
        #expect(network.rxDrops(2).spoofedSource == 0)
    }

    @Test func pinnedAddressesCannotBeStolenAndAreNeverFlooded() {
        let network = Network(spoofingOn2: true)
        // From the LAN and from a spoofing VM, frames carrying a's MAC: a keeps its traffic.
        network.send(frame(from: a, to: broadcast), from: 3)
        network.send(frame(from: a, to: broadcast), from: 2)
        _ = network.delivered()
        network.send(frame(from: Network.lanHost, to: a), from: 3)
        #expect(network.delivered() == [1: 1, 2: 0, 3: 0, 4: 0])
        // The DHCP server's unicast (renewals) goes to it alone, before it ever sent a frame.
        network.send(frame(from: a, to: Network.server), from: 1)
        #expect(network.delivered() == [1: 0, 2: 0, 3: 0, 4: 1])
        // The host's own address is on the uplink: its traffic from the LAN never reaches a VM,
        // and a VM's frame to the host goes out of the uplink only.
        network.send(frame(from: Network.lanHost, to: Network.host), from: 3)
        #expect(network.delivered() == [1: 0, 2: 0, 3: 0, 4: 0])
        network.send(frame(from: a, to: Network.host), from: 1)
        #expect(network.delivered() == [1: 0, 2: 0, 3: 1, 4: 0])
        // Pins are not aged out.
        network.fabric.tick(now: 10_000_000)
        network.send(frame(from: b, to: a), from: 2)
        #expect(network.delivered() == [1: 1, 2: 0, 3: 0, 4: 0])
        let pinned = network.fabric.table.entries(now: 10_000_000).filter(\.isPinned).map(\.address.value)
        #expect(Set(pinned) == [a, b, Network.host, Network.server])
    }

    @Test func withTheBuiltInServerOnDHCPFromVMsAndTheLANIsKeptApart() {
        let network = Network()
        network.fabric.dhcpGuard = true
        // A rogue server in a VM: its OFFER reaches nobody.
        network.send(dhcp(from: b, sourcePort: 67, destinationPort: 68), from: 2)
        #expect(network.delivered() == [1: 0, 2: 0, 3: 0, 4: 0])
        #expect(network.rxDrops(2).dhcpFiltered == 1)
        // The LAN's server and the LAN's clients: kept out.
        network.send(dhcp(from: Network.lanHost, sourcePort: 67, destinationPort: 68), from: 3)
        network.send(dhcp(from: Network.lanHost, sourcePort: 68, destinationPort: 67), from: 3)
        #expect(network.delivered() == [1: 0, 2: 0, 3: 0, 4: 0])
        #expect(network.rxDrops(3).dhcpFiltered == 2)
        // A VM's DISCOVER reaches the built-in server (and the other VM), never the LAN.
        network.send(dhcp(from: a, sourcePort: 68, destinationPort: 67), from: 1)
        #expect(network.delivered() == [1: 0, 2: 1, 3: 0, 4: 1])
        #expect(network.txDrops(3).dhcpFiltered == 1)
        // A unicast renewal to the server goes to it alone.
        network.send(dhcp(from: a, to: Network.server, sourcePort: 68, destinationPort: 67), from: 1)
        #expect(network.delivered() == [1: 0, 2: 0, 3: 0, 4: 1])
        // Other UDP is untouched; with the server off, DHCP flows again (to a LAN server).
        network.send(dhcp(from: a, sourcePort: 5353, destinationPort: 5353), from: 1)
        #expect(network.delivered() == [1: 0, 2: 1, 3: 1, 4: 1])
        network.fabric.dhcpGuard = false
        network.send(dhcp(from: Network.lanHost, sourcePort: 67, destinationPort: 68), from: 3)
        #expect(network.delivered() == [1: 1, 2: 1, 3: 0, 4: 1])
    }

    @Test func a802Dot1QTaggedDHCPReplyFromAVMIsStillARogueReply() {
        let network = Network()
        network.fabric.dhcpGuard = true
        var tagged = dhcp(from: b, sourcePort: 67, destinationPort: 68)
        tagged.insert(contentsOf: [0x81, 0x00, 0x00, 0x0A], at: 12)
        network.send(tagged, from: 2)
        #expect(network.delivered() == [1: 0, 2: 0, 3: 0, 4: 0])
        #expect(network.rxDrops(2).dhcpFiltered == 1)
    }
}

/// A sink that takes offloaded frames as they are (a TAP), keeping the header's first bytes.
private final class OffloadingPort: FrameSink {
    var frames: [(header: [UInt8], frame: [UInt8])] = []
    var handlesOffloads: Bool { true }
    func send(_ frame: UnsafeRawBufferPointer, offload: OffloadInfo) -> SendResult {
        frames.append((offload.header.map { Array($0) } ?? [], Array(frame)))
        return .sent
    }
}

@Suite("Mixed networks: offloaded frames for ports that cannot take them")
struct MixedOffloadTests {
    @Test func aTSOFrameReachesTAPsWholeAndOtherPortsAsWireFramesFinishedOnce() throws {
        let fabric = VirtualSwitch(name: "mixed")
        let tap = OffloadingPort(), socketA = MemoryPort(), socketB = MemoryPort(), sender = OffloadingPort()
        fabric.attach(PortID(1), sink: sender)
        fabric.attach(PortID(2), sink: tap)
        fabric.attach(PortID(3), sink: socketA)
        fabric.attach(PortID(4), sink: socketB)
        // A 3,000-byte TCP/IPv4 segment to an unknown station: flooded to every other port.
        var frame = EthernetBuilder.header(destination: MACAddress(value: 0x0200_0000_0002), source: MACAddress(value: a), type: .ipv4)
        frame += IPv4Packet.header(source: IPv4Address(10, 0, 0, 1), destination: IPv4Address(10, 0, 0, 2), protocolNumber: .tcp, payloadSize: 20 + 3_000)
        frame += [0x9C, 0x40, 0x14, 0x51, 0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x18, 0x01, 0xF5, 0, 0, 0, 0] + [UInt8](repeating: 0x33, count: 3_000)
        let header: [UInt8] = [1, 1, 54, 0, 0xA8, 0x05, 34, 0, 16, 0]  // NEEDS_CSUM, TCPv4, gso_size 1448
        frame.withUnsafeBytes { bytes in
            header.withUnsafeBytes { raw in fabric.receive(bytes, offload: OffloadInfo(header: raw), from: PortID(1), now: 0) }
        }
        #expect(tap.frames.count == 1 && tap.frames[0].frame == frame && tap.frames[0].header == header, "the TAP gets the segment whole")
        #expect(socketA.frames.map(\.count) == [54 + 1448, 54 + 1448, 54 + 104])
        #expect(socketB.frames == socketA.frames)
        #expect(fabric.counters(of: PortID(3))?.txFrames == 3)
        #expect(fabric.counters(of: PortID(3))?.txDrops.needsOffload == 0)
    }

    /// The largest frame the switch takes (65,553 bytes) as one TCP segment with gso_size above
    /// its payload, for a port that needs it finished in software. Untagged IPv4 it has an IP
    /// part of 65,539 bytes, which no total-length field holds: dropped and counted (it used to
    /// trap, taking vnetd and every VM with it). Tagged, or IPv6, it is a real packet and crosses.
    @Test func aTSOFrameTooLongForItsIPLengthFieldIsDroppedAndCounted() throws {
        let fabric = VirtualSwitch(name: "long")
        let sender = OffloadingPort(), socket = MemoryPort()
        fabric.attach(PortID(1), sink: sender)
        fabric.attach(PortID(2), sink: socket)
        let length = fabric.maximumFrameSize
        #expect(length == 65_553)
        let tcp: [UInt8] = [0x9C, 0x40, 0x14, 0x51, 0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x18, 0x01, 0xF5, 0, 0, 0, 0]
        func send(_ frame: [UInt8], gso: UInt8, ip: Int) {
            #expect(frame.count == length)
            let header: [UInt8] = [1, gso, UInt8(ip + 40), 0, 0xFF, 0xFF, UInt8(ip + (gso == 4 ? 40 : 20)), 0, 16, 0]  // gso_size 65,535
            frame.withUnsafeBytes { bytes in
                header.withUnsafeBytes { raw in fabric.receive(bytes, offload: OffloadInfo(header: raw), from: PortID(1), now: 0) }
            }
        }
        let ethernet = EthernetBuilder.header(destination: MACAddress(value: 0x0200_0000_0002), source: MACAddress(value: a), type: .ipv4)
        // Total length 0xFFFF (the most the field says); the frame holds 4 bytes more.
        var untagged = ethernet + [0x45, 0, 0xFF, 0xFF, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2] + tcp
        untagged += [UInt8](repeating: 0x5A, count: length - untagged.count)
        send(untagged, gso: 1, ip: 14)
        #expect(socket.frames.isEmpty)
        #expect(fabric.counters(of: PortID(2))?.txDrops.malformed == 1)

        var tagged = Array(ethernet[0..<12]) + [0x81, 0x00, 0x00, 0x0A, 0x08, 0x00] + [0x45, 0, 0xFF, 0xFF, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2] + tcp
        tagged += [UInt8](repeating: 0x5A, count: length - tagged.count)
        send(tagged, gso: 1, ip: 18)
        #expect(socket.frames.map(\.count) == [length], "tagged, its IP part is 65,535 bytes: one segment")
        #expect(socket.frames.first.map { Int($0[20]) << 8 | Int($0[21]) } == 65_535, "IP total length")

        let payload = length - 14 - 40
        var ipv6 = Array(ethernet[0..<12]) + [0x86, 0xDD, 0x60, 0, 0, 0, UInt8(payload >> 8), UInt8(payload & 0xFF), 6, 64]
        ipv6 += [0xFD] + [UInt8](repeating: 0, count: 14) + [1] + [0xFD] + [UInt8](repeating: 0, count: 14) + [2] + tcp
        ipv6 += [UInt8](repeating: 0x5A, count: length - ipv6.count)
        send(ipv6, gso: 4, ip: 14)
        #expect(socket.frames.count == 2 && socket.frames.last?.count == length, "IPv6: payload length 65,499, one segment")
        #expect(fabric.counters(of: PortID(2))?.txDrops.malformed == 1)
    }
}
