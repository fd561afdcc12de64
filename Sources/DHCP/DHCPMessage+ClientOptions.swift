import Packets

/// What a client says about itself beyond RFC 2131's basics. Every accessor reads untrusted
/// bytes: a malformed option reads as absent, never as a trap.
extension DHCPMessage {
    /// Option 93 (RFC 4578): the first architecture type the client lists (0 BIOS, 6/7/9 UEFI).
    public var clientArchitecture: UInt16? {
        guard let bytes = option(.clientArchitecture), bytes.count >= 2, bytes.count % 2 == 0 else { return nil }
        return UInt16(bytes[0]) << 8 | UInt16(bytes[1])
    }

    /// True when the client is iPXE: option 77 is "iPXE", either as iPXE sends it (the bare
    /// string) or as RFC 3004 lists it (length-prefixed items).
    public var isIPXE: Bool {
        guard let bytes = option(.userClass), !bytes.isEmpty else { return false }
        let name = Array("iPXE".utf8)
        if bytes == name { return true }
        var index = 0
        while index < bytes.count {
            let length = Int(bytes[index])
            guard length > 0, index + 1 + length <= bytes.count else { return false }
            if Array(bytes[(index + 1)..<(index + 1 + length)]) == name { return true }
            index += 1 + length
        }
        return false
    }

    /// The host name a client gives: option 12, else the first label of option 81's name
    /// (RFC 4702: wire format when the E flag is set, else ASCII). Letters, digits and hyphens
    /// only, at most 63 of them; anything else reads as no name.
    public var clientHostName: String? {
        if let name = hostName { return Self.plainLabel(Array(name.utf8)) }
        guard let fqdn = option(.clientFQDN), fqdn.count > 3 else { return nil }
        let name = fqdn[3...]
        if fqdn[0] & 0x04 != 0 {
            guard let length = name.first, length > 0, Int(length) < name.count else { return nil }
            return Self.plainLabel(Array(name.dropFirst().prefix(Int(length))))
        }
        return Self.plainLabel(Array(name.prefix { $0 != UInt8(ascii: ".") && $0 != 0 }))
    }

    static func plainLabel(_ bytes: [UInt8]) -> String? {
        let label = bytes.prefix { $0 != UInt8(ascii: ".") && $0 != 0 }
        guard !label.isEmpty, label.count <= 63, label.allSatisfy({
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0 | 0x20) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || $0 == UInt8(ascii: "-")
        }) else { return nil }
        return String(decoding: label, as: UTF8.self)
    }
}
