import Packets

/// The few facts about a frame that the switch's policies need, read straight from the bytes
/// (no view is built, nothing allocated). Every read is bounds-checked against the frame.
enum FramePolicy {
    /// IEEE 802.1D reserved group addresses 01:80:C2:00:00:00–0F (STP, LACP, 802.1X, LLDP) or a
    /// MAC control frame (EtherType 0x8808: PAUSE). Linux's bridge never forwards these by default.
    @inline(__always)
    static func isLinkLocal(_ frame: UnsafeRawBufferPointer, destination: MACAddress) -> Bool {
        if destination.value & ~0xF == 0x0180_C200_0000 { return true }
        return frame.count >= 14 && frame[12] == 0x88 && frame[13] == 0x08
    }

    enum DHCPDirection {
        /// UDP from port 67 to port 68: a server's reply to a client.
        case toClient
        /// UDP to port 67: a client's request, or a relay agent's.
        case toServer
    }

    /// The DHCP direction of an IPv4 UDP frame (untagged or with one 802.1Q tag), or nil. Later
    /// fragments carry no UDP header and are not DHCP.
    @inline(__always)
    static func dhcpDirection(_ frame: UnsafeRawBufferPointer) -> DHCPDirection? {
        var ip = 14
        guard frame.count >= ip + 20 else { return nil }
        if frame[12] == 0x81 && frame[13] == 0x00 {
            ip = 18
            guard frame.count >= ip + 20, frame[16] == 0x08, frame[17] == 0x00 else { return nil }
        } else {
            guard frame[12] == 0x08, frame[13] == 0x00 else { return nil }
        }
        guard frame[ip] >> 4 == 4, frame[ip + 9] == 17 else { return nil }
        let headerLength = Int(frame[ip] & 0x0F) * 4
        guard headerLength >= 20, (UInt16(frame[ip + 6]) << 8 | UInt16(frame[ip + 7])) & 0x1FFF == 0 else { return nil }
        let udp = ip + headerLength
        guard frame.count >= udp + 4 else { return nil }
        let source = UInt16(frame[udp]) << 8 | UInt16(frame[udp + 1])
        let destination = UInt16(frame[udp + 2]) << 8 | UInt16(frame[udp + 3])
        if destination == 67 { return .toServer }
        if source == 67 && destination == 68 { return .toClient }
        return nil
    }
}
