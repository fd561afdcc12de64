import FuzzDriver
import Packets
import Switching

/// Arbitrary bytes as a frame arriving on a switch port: through every parser of the data path
/// (Ethernet, 802.1Q, ARP, IPv4, UDP) and the switch's forwarding. Must never crash; what it
/// forwards must be the frame it got.
final class Recorder: FrameSink {
    var frames = 0
    var bytes = 0
    var handlesOffloads: Bool { false }
    func send(_ frame: UnsafeRawBufferPointer, offload: OffloadInfo) -> SendResult {
        frames += 1
        bytes += frame.count
        return .sent
    }
}

nonisolated(unsafe) let fabric = VirtualSwitch(name: "fuzz", macTableCapacity: 64)
nonisolated(unsafe) let sinks = [Recorder(), Recorder(), Recorder()]
nonisolated(unsafe) var clock: Int64 = 0
nonisolated(unsafe) var attached = false

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    if !attached {
        for (index, sink) in sinks.enumerated() { fabric.attach(PortID(UInt32(index + 1)), sink: sink) }
        attached = true
    }
    let frame = UnsafeRawBufferPointer(start: data, count: size)
    if let ethernet = EthernetFrame(frame) {
        _ = ethernet.destination
        _ = ethernet.source
        switch ethernet.etherType {
        case .arp:
            if let arp = ARPPacket(ethernet.payload) { _ = (arp.operation, arp.senderIP, arp.targetIP, arp.senderMAC) }
        case .ipv4:
            if let ip = IPv4Packet(ethernet.payload), ip.protocolNumber == .udp, !ip.isFragment, let udp = UDPDatagram(ip.payload) {
                _ = (udp.sourcePort, udp.destinationPort, udp.payload.count)
            }
        default:
            break
        }
    }
    clock += 1
    let before = sinks.map(\.bytes)
    let ingress = PortID(UInt32(size % 3 + 1))
    fabric.receive(frame, from: ingress, now: clock)
    for (index, sink) in sinks.enumerated() {
        let grew = sink.bytes - before[index]
        precondition(grew == 0 || grew == size, "a forwarded frame is the frame received")
    }
    if clock % 1000 == 0 { fabric.tick(now: clock) }
    return 0
}

@_cdecl("FuzzFrames_main")
public func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    vnetd_run_fuzzer(argc, argv) { data, size in
        guard let data else { return 0 }
        return fuzz(data, size)
    }
}
