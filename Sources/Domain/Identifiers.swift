import Foundation

/// Stable identities. URLs use them, so a bookmark survives a rename.
public struct NetworkID: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public static func generate() -> NetworkID { NetworkID(rawValue: UUID().uuidString.lowercased()) }
    public var description: String { rawValue }
}

public struct VMID: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public static func generate() -> VMID { VMID(rawValue: UUID().uuidString.lowercased()) }
    public var description: String { rawValue }
}

public struct NICID: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public static func generate() -> NICID { NICID(rawValue: UUID().uuidString.lowercased()) }
    public var description: String { rawValue }
}
