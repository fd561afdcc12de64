import Packets

/// DHCP option codes (RFC 2132). An open set: unknown codes survive a round trip.
public struct DHCPOptionCode: RawRepresentable, Hashable, Sendable, Comparable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    public static let pad = Self(rawValue: 0)
    public static let subnetMask = Self(rawValue: 1)
    public static let router = Self(rawValue: 3)
    public static let domainNameServer = Self(rawValue: 6)
    public static let hostName = Self(rawValue: 12)
    public static let domainName = Self(rawValue: 15)
    public static let interfaceMTU = Self(rawValue: 26)
    public static let ntpServers = Self(rawValue: 42)
    public static let netbiosNameServer = Self(rawValue: 44)
    public static let requestedAddress = Self(rawValue: 50)
    public static let leaseTime = Self(rawValue: 51)
    public static let overload = Self(rawValue: 52)
    public static let messageType = Self(rawValue: 53)
    public static let serverIdentifier = Self(rawValue: 54)
    public static let parameterRequestList = Self(rawValue: 55)
    public static let message = Self(rawValue: 56)
    public static let maximumMessageSize = Self(rawValue: 57)
    public static let renewalTime = Self(rawValue: 58)
    public static let rebindingTime = Self(rawValue: 59)
    public static let vendorClass = Self(rawValue: 60)
    public static let clientIdentifier = Self(rawValue: 61)
    public static let tftpServerName = Self(rawValue: 66)
    public static let bootFileName = Self(rawValue: 67)
    public static let userClass = Self(rawValue: 77)
    public static let clientFQDN = Self(rawValue: 81)
    public static let relayAgentInformation = Self(rawValue: 82)
    public static let clientArchitecture = Self(rawValue: 93)
    public static let domainSearch = Self(rawValue: 119)
    public static let classlessStaticRoute = Self(rawValue: 121)
    /// Microsoft's code for classless routes, read by Windows before Vista.
    public static let microsoftClasslessStaticRoute = Self(rawValue: 249)
    public static let end = Self(rawValue: 255)
}

public enum DHCPMessageType: UInt8, Sendable {
    case discover = 1, offer, request, decline, ack, nak, release, inform
}

/// A DHCP message (RFC 2131 §2): the BOOTP fixed fields and the options.
public struct DHCPMessage: Sendable, Equatable {
    public static let magicCookie: [UInt8] = [99, 130, 83, 99]
    /// The fixed part: op through file (236 bytes), then the 4-byte cookie.
    public static let fixedSize = 240
    /// RFC 2131: every DHCP client can take 576-byte IP datagrams; a reply fits that unless the
    /// client announced a larger maximum (option 57).
    public static let minimumMaximumSize = 576
    static let serverPort: UInt16 = 67
    static let clientPort: UInt16 = 68

    public var op: UInt8 = 2
    public var hardwareType: UInt8 = 1
    public var hardwareLength: UInt8 = 6
    public var hops: UInt8 = 0
    public var transactionID: UInt32 = 0
    public var seconds: UInt16 = 0
    /// Bit 15: the client can only receive broadcast replies.
    public var flags: UInt16 = 0
    public var clientAddress = IPv4Address.any
    public var yourAddress = IPv4Address.any
    public var serverAddress = IPv4Address.any
    public var relayAddress = IPv4Address.any
    /// The first 6 bytes of chaddr, for Ethernet clients.
    public var clientHardwareAddress = MACAddress.zero
    /// The BOOTP `file` field (boot file name for PXE ROMs), without its NUL padding; when set,
    /// options never overflow into it.
    public var bootFile: [UInt8] = []
    /// Options in the order they are written; a code appears at most once (long values are
    /// split over several instances on the wire only, RFC 3396).
    public var options: [(code: DHCPOptionCode, value: [UInt8])] = []

    public init() {}

    public static func == (lhs: DHCPMessage, rhs: DHCPMessage) -> Bool {
        lhs.op == rhs.op && lhs.transactionID == rhs.transactionID && lhs.flags == rhs.flags && lhs.seconds == rhs.seconds
            && lhs.clientAddress == rhs.clientAddress && lhs.yourAddress == rhs.yourAddress
            && lhs.serverAddress == rhs.serverAddress && lhs.relayAddress == rhs.relayAddress
            && lhs.clientHardwareAddress == rhs.clientHardwareAddress && lhs.bootFile == rhs.bootFile
            && lhs.options.map(\.code) == rhs.options.map(\.code) && lhs.options.map(\.value) == rhs.options.map(\.value)
    }

    public var isBroadcastRequested: Bool { flags & 0x8000 != 0 }

    public func option(_ code: DHCPOptionCode) -> [UInt8]? {
        options.first { $0.code == code }?.value
    }

    public mutating func set(_ code: DHCPOptionCode, _ value: [UInt8]) {
        options.removeAll { $0.code == code }
        options.append((code, value))
    }

    public var messageType: DHCPMessageType? {
        option(.messageType).flatMap { $0.count == 1 ? DHCPMessageType(rawValue: $0[0]) : nil }
    }

    public var requestedAddress: IPv4Address? { option(.requestedAddress).flatMap(Self.address) }
    public var serverIdentifier: IPv4Address? { option(.serverIdentifier).flatMap(Self.address) }
    public var parameterRequestList: [DHCPOptionCode] { (option(.parameterRequestList) ?? []).map(DHCPOptionCode.init) }
    public var clientIdentifier: [UInt8]? { option(.clientIdentifier).flatMap { $0.isEmpty ? nil : $0 } }
    public var hostName: String? {
        option(.hostName).flatMap { bytes in
            let text = String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            return text.isEmpty ? nil : text
        }
    }
    public var maximumMessageSize: Int? {
        option(.maximumMessageSize).flatMap { $0.count == 2 ? Int(UInt16($0[0]) << 8 | UInt16($0[1])) : nil }
    }

    static func address(_ bytes: [UInt8]) -> IPv4Address? {
        bytes.count == 4 ? IPv4Address(bytes[0], bytes[1], bytes[2], bytes[3]) : nil
    }

    public enum ParseError: Error, Equatable {
        case tooShort, badCookie, notEthernet, truncatedOption
    }

    /// Parses a UDP payload. Options spread over `file` and `sname` (option 52) and repeated
    /// codes (RFC 3396) are joined. Any malformation is an error, never a trap.
    public init(parsing bytes: UnsafeRawBufferPointer) throws(ParseError) {
        guard bytes.count >= Self.fixedSize else { throw .tooShort }
        guard Array(bytes[236..<240]) == Self.magicCookie else { throw .badCookie }
        op = bytes[0]
        hardwareType = bytes[1]
        hardwareLength = bytes[2]
        guard hardwareType == 1, hardwareLength == 6 else { throw .notEthernet }
        hops = bytes[3]
        transactionID = bytes.u32(4)
        seconds = bytes.u16(8)
        flags = bytes.u16(10)
        clientAddress = IPv4Address(value: bytes.u32(12))
        yourAddress = IPv4Address(value: bytes.u32(16))
        serverAddress = IPv4Address(value: bytes.u32(20))
        relayAddress = IPv4Address(value: bytes.u32(24))
        clientHardwareAddress = bytes.mac(28)

        var collected: [(DHCPOptionCode, [UInt8])] = []
        let overload = try Self.readOptions(UnsafeRawBufferPointer(rebasing: bytes[240...]), into: &collected)
        if overload & 1 != 0 { _ = try Self.readOptions(UnsafeRawBufferPointer(rebasing: bytes[108..<236]), into: &collected) }
        if overload & 2 != 0 { _ = try Self.readOptions(UnsafeRawBufferPointer(rebasing: bytes[44..<108]), into: &collected) }
        if overload & 1 == 0 { bootFile = Array(bytes[108..<236].prefix { $0 != 0 }) }
        for (code, value) in collected where code != .overload {
            if let index = options.firstIndex(where: { $0.code == code }) {
                options[index].value += value
            } else {
                options.append((code, value))
            }
        }
    }

    /// Reads options until `end` or the buffer's end; returns the overload value if present.
    private static func readOptions(_ bytes: UnsafeRawBufferPointer, into collected: inout [(DHCPOptionCode, [UInt8])]) throws(ParseError) -> UInt8 {
        var index = 0
        var overload: UInt8 = 0
        while index < bytes.count {
            let code = DHCPOptionCode(rawValue: bytes[index])
            if code == .end { break }
            if code == .pad {
                index += 1
                continue
            }
            guard index + 1 < bytes.count else { throw .truncatedOption }
            let length = Int(bytes[index + 1])
            guard index + 2 + length <= bytes.count else { throw .truncatedOption }
            let value = Array(bytes[(index + 2)..<(index + 2 + length)])
            if code == .overload, length == 1 { overload = value[0] }
            collected.append((code, value))
            index += 2 + length
        }
        return overload
    }

    /// The UDP payload for this message, at most `maximumSize` bytes of DHCP message (options
    /// that do not fit the options field go to `file`, then `sname`, with option 52, as RFC 2131
    /// §4.1 allows; what fits nowhere is left out, last options first). At least 300 bytes, the
    /// BOOTP minimum some clients insist on.
    public func serialized(maximumSize: Int = 576 - 28) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.fixedSize)
        out[0] = op
        out[1] = hardwareType
        out[2] = hardwareLength
        out[3] = hops
        Self.put32(&out, 4, transactionID)
        Self.put16(&out, 8, seconds)
        Self.put16(&out, 10, flags)
        Self.put32(&out, 12, clientAddress.value)
        Self.put32(&out, 16, yourAddress.value)
        Self.put32(&out, 20, serverAddress.value)
        Self.put32(&out, 24, relayAddress.value)
        for (index, octet) in clientHardwareAddress.octets.enumerated() { out[28 + index] = octet }
        out.replaceSubrange(236..<240, with: Self.magicCookie)

        // Encoded options, each split into 255-byte pieces (RFC 3396).
        let encoded: [[UInt8]] = options.map { option in
            var pieces: [UInt8] = []
            var rest = option.value[...]
            repeat {
                let piece = rest.prefix(255)
                pieces += [option.code.rawValue, UInt8(piece.count)] + piece
                rest = rest.dropFirst(piece.count)
            } while !rest.isEmpty
            return pieces
        }
        let fileRoom = bootFile.isEmpty ? 127 : 0
        let boot = bootFile.prefix(128)
        out.replaceSubrange(108..<(108 + boot.count), with: boot)
        let mainSpace = max(0, maximumSize - Self.fixedSize) - 1  // room for `end`
        var main: [UInt8] = [], file: [UInt8] = [], sname: [UInt8] = []
        let total = encoded.reduce(0) { $0 + $1.count }
        if total <= mainSpace {
            encoded.forEach { main += $0 }
        } else {
            let overloadSpace = mainSpace - 3  // option 52 itself
            for option in encoded {
                if main.count + option.count <= overloadSpace {
                    main += option
                } else if file.count + option.count <= fileRoom {
                    file += option
                } else if sname.count + option.count <= 63 {
                    sname += option
                }
            }
            let overload: UInt8 = (file.isEmpty ? 0 : 1) | (sname.isEmpty ? 0 : 2)
            if overload != 0 {
                main = [DHCPOptionCode.overload.rawValue, 1, overload] + main
                if !file.isEmpty { out.replaceSubrange(108..<(108 + file.count + 1), with: file + [255]) }
                if !sname.isEmpty { out.replaceSubrange(44..<(44 + sname.count + 1), with: sname + [255]) }
            }
        }
        out += main
        out.append(DHCPOptionCode.end.rawValue)
        if out.count < 300 { out += [UInt8](repeating: 0, count: 300 - out.count) }
        return out
    }

    private static func put16(_ out: inout [UInt8], _ offset: Int, _ value: UInt16) {
        out[offset] = UInt8(value >> 8)
        out[offset + 1] = UInt8(truncatingIfNeeded: value)
    }

    private static func put32(_ out: inout [UInt8], _ offset: Int, _ value: UInt32) {
        for index in 0..<4 { out[offset + index] = UInt8(truncatingIfNeeded: value >> (24 - 8 * UInt32(index))) }
    }
}

extension UnsafeRawBufferPointer {
    func u16(_ offset: Int) -> UInt16 { UInt16(self[offset]) << 8 | UInt16(self[offset + 1]) }
    func u32(_ offset: Int) -> UInt32 {
        UInt32(self[offset]) << 24 | UInt32(self[offset + 1]) << 16 | UInt32(self[offset + 2]) << 8 | UInt32(self[offset + 3])
    }
    func mac(_ offset: Int) -> MACAddress {
        MACAddress(octets: self[offset..<offset + 6]) ?? .zero
    }
}
