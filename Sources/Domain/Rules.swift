import Foundation
import Packets

/// The naming rules of Virtual Server, in one place (DESIGN.md §7).
public enum NameRules {
    /// In UTF-8 bytes, as stored: a limit in `Character`s would let one grapheme cluster carry
    /// any number of combining marks.
    public static let maximumLength = 256
    /// Checked per Unicode scalar: inside a grapheme cluster ("\u{0600}<", "\"\u{0301}") a
    /// forbidden scalar is still forbidden.
    public static let forbiddenCharacters: Set<Unicode.Scalar> = ["*", "?", ":", "<", ">", "/", "\\", "|", "\""]

    /// The name as stored: surrounding white space removed.
    public static func normalized(_ name: String) -> String {
        name.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The key two names share when they differ only in case (or Unicode composition).
    public static func uniquenessKey(_ name: String) -> String {
        normalized(name).precomposedStringWithCanonicalMapping.lowercased()
    }

    /// Problems with a name, before uniqueness (which needs the store).
    public static func problems(_ name: String, field: String = "name") -> [Problem] {
        let name = normalized(name)
        if name.isEmpty {
            return [Problem(.nameRequired, field: field, "Enter a name.")]
        }
        var problems: [Problem] = []
        if name.utf8.count > maximumLength {
            problems.append(Problem(
                .nameTooLong, field: field,
                "A name can be at most \(maximumLength) bytes long in UTF-8 (256 plain letters, fewer accented or non-Latin ones); this one has \(name.utf8.count)."))
        }
        let forbidden = name.unicodeScalars.contains { forbiddenCharacters.contains($0) }
        let control = name.unicodeScalars.contains { $0.properties.generalCategory == .control || $0.properties.isNoncharacterCodePoint }
        if forbidden || control {
            problems.append(Problem(
                .nameHasForbiddenCharacters, field: field,
                "A name cannot contain any of * ? : < > / \\ | \", control characters, or noncharacters such as U+FFFF."))
        }
        return problems
    }
}

/// Policy: notes keep whatever is typed except what a network definition file cannot carry.
/// XML 1.0 has no way at all to write most C0 controls, U+FFFE or U+FFFF (not even as character
/// references), so they are refused when typed rather than lost or mangled on export; the other
/// controls (DEL, C1) and the noncharacters go with them, as names refuse them too.
public enum NotesRules {
    /// In UTF-8 bytes, like `NameRules.maximumLength`.
    public static let maximumLength = 10_000

    public static func problems(_ notes: String) -> [Problem] {
        var problems: [Problem] = []
        if notes.utf8.count > maximumLength {
            problems.append(Problem(.notesTooLong, field: "notes", "Notes can be at most \(maximumLength) bytes long in UTF-8; these have \(notes.utf8.count)."))
        }
        if notes.unicodeScalars.contains(where: isRefused) {
            problems.append(Problem(
                .nameHasForbiddenCharacters, field: "notes",
                "Notes cannot contain control characters other than tabs and line breaks, or noncharacters such as U+FFFE and U+FFFF."))
        }
        return problems
    }

    static func isRefused(_ scalar: Unicode.Scalar) -> Bool {
        if scalar == "\t" || scalar == "\n" || scalar == "\r" { return false }
        return scalar.properties.generalCategory == .control || scalar.properties.isNoncharacterCodePoint
    }
}

/// MAC address rules for network adapters.
public enum MACRules {
    /// Virtual Server's organisationally unique identifier, used for every dynamic address.
    public static let dynamicPrefix: UInt32 = 0x0003FF
    public static let maximumNICsPerVM = 4

    /// Parses and checks an address typed for a static assignment.
    public static func staticAddress(_ text: String, field: String) -> Result<MACAddress, ValidationFailure> {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let mac = MACAddress(parsing: trimmed) else {
            return .failure(ValidationFailure(
                .macInvalid, field: field,
                "“\(trimmed)” is not a MAC address. Write six pairs of hexadecimal digits, like 00-03-FF-12-34-56."))
        }
        if mac.isZero {
            return .failure(ValidationFailure(.macZero, field: field, "00-00-00-00-00-00 cannot be used as an adapter's address."))
        }
        if mac.isMulticast {
            return .failure(ValidationFailure(
                .macNotUnicast, field: field,
                "\(mac.formatted(separator: "-", uppercase: true)) is a multicast or broadcast address; an adapter needs a unicast one (even first octet)."))
        }
        return .success(mac)
    }
}

/// Where dynamic addresses' random bits come from; tests pass a seeded one.
public protocol RandomSource: Sendable {
    func next24Bits() -> UInt32
}

public struct SystemRandomSource: RandomSource {
    public init() {}
    public func next24Bits() -> UInt32 {
        var generator = SystemRandomNumberGenerator()
        return UInt32.random(in: 0...0xFF_FFFF, using: &generator)
    }
}
