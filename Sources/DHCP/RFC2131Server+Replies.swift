import Packets

/// OFFER, ACK and NAK as RFC 2131 §4.3.1 Table 3 lays them out.
extension RFC2131Server {
    /// Addressed as §4.1 says: ciaddr set → unicast to it; broadcast bit → broadcast; else
    /// unicast to yiaddr at the client's hardware address.
    func reply(_ type: DHCPMessageType, _ context: Context, yourAddress: IPv4Address, withLease: Bool) -> Reply {
        let request = context.request
        var message = DHCPMessage()
        message.transactionID = request.transactionID
        message.flags = request.flags
        // An OFFER never carries ciaddr; an ACK echoes it (RENEWING, REBINDING, INFORM).
        message.clientAddress = type == .offer ? .any : request.clientAddress
        message.yourAddress = yourAddress
        message.clientHardwareAddress = request.clientHardwareAddress
        message.set(.messageType, [type.rawValue])
        message.set(.serverIdentifier, configuration.server.octets)
        if withLease {
            let times = ReplyOptions.jittered(configuration, client: context.key.mac.octets + context.key.clientID, transaction: request.transactionID)
            message.set(.leaseTime, Self.bytes(configuration.leaseTime))
            message.set(.renewalTime, Self.bytes(times.renewal))
            message.set(.rebindingTime, Self.bytes(times.rebinding))
        }
        let reservedName = reservation(of: request).flatMap { $0.address == yourAddress ? $0.hostName : nil }
        var values = ReplyOptions.values(configuration, hostName: reservedName)
        if let file = ReplyOptions.bootFile(configuration.boot, for: request) {
            // siaddr is the next server only for a client that boots from it.
            message.serverAddress = configuration.boot?.nextServer ?? configuration.server
            let bytes = Array(file.utf8)
            if bytes.count <= 127 { message.bootFile = bytes }
            values[.bootFileName] = bytes
            values[.tftpServerName] = Array(message.serverAddress.description.utf8)
        }
        let asked = request.parameterRequestList
        for code in ReplyOptions.order(asked: asked, available: values) {
            // The boot file's option only when asked for or when it does not fit the BOOTP field.
            if code == .bootFileName, !asked.contains(code), !message.bootFile.isEmpty { continue }
            if code == .tftpServerName, !asked.contains(code) { continue }
            if let value = values[code] { message.set(code, value) }
        }
        if !context.key.clientID.isEmpty { message.set(.clientIdentifier, context.key.clientID) }
        if request.clientAddress != .any {
            return Reply(message: message, destinationMAC: request.clientHardwareAddress, destinationIP: request.clientAddress,
                         sourceIP: configuration.server)
        }
        if request.isBroadcastRequested {
            return Reply(message: message, destinationMAC: .broadcast, destinationIP: .broadcast, sourceIP: configuration.server)
        }
        return Reply(message: message, destinationMAC: request.clientHardwareAddress, destinationIP: yourAddress, sourceIP: configuration.server)
    }

    /// Always broadcast: the client may have no usable address. From a former server address
    /// when the client still talks to that one.
    func nak(_ context: Context, _ text: String, from former: IPv4Address? = nil) -> Reply {
        counters.naks &+= 1
        let request = context.request
        let server = former ?? context.formerServer ?? configuration.server
        var message = DHCPMessage()
        message.transactionID = request.transactionID
        message.flags = request.flags
        message.clientHardwareAddress = request.clientHardwareAddress
        message.set(.messageType, [DHCPMessageType.nak.rawValue])
        message.set(.serverIdentifier, server.octets)
        message.set(.message, Array(text.utf8))
        if let id = request.clientIdentifier { message.set(.clientIdentifier, id) }
        return Reply(message: message, destinationMAC: .broadcast, destinationIP: .broadcast, sourceIP: server)
    }

    static func bytes(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(truncatingIfNeeded: value >> 16), UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value)]
    }
}
