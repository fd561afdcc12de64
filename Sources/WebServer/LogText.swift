/// Text from a request (a path, a header, an error that quotes one) made safe for a log line.
///
/// Contract: the result has no control characters (C0, DEL, C1), no line or paragraph
/// separators and no bidirectional overrides, so one logged value can never start a new line or
/// disguise the line it is on. Each such scalar is written as `\u{XX}`; a backslash is doubled so
/// the escapes stay unambiguous. Values are cut at `maximumBytes` (UTF-8) with "…" appended.
public enum LogText {
    public static let maximumBytes = 2048

    public static func escape(_ text: String, maximumBytes: Int = LogText.maximumBytes) -> String {
        var out = String.UnicodeScalarView()
        var size = 0
        for scalar in text.unicodeScalars {
            let piece: String.UnicodeScalarView
            if scalar == "\\" {
                piece = "\\\\".unicodeScalars
            } else if needsEscape(scalar) {
                piece = "\\u{\(String(scalar.value, radix: 16, uppercase: true))}".unicodeScalars
            } else {
                piece = String.UnicodeScalarView([scalar])
            }
            let pieceSize = piece.reduce(0) { $0 + UTF8.width($1) }
            guard size + pieceSize <= maximumBytes else {
                out.append(contentsOf: "…".unicodeScalars)
                break
            }
            out.append(contentsOf: piece)
            size += pieceSize
        }
        return String(out)
    }

    static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .lineSeparator, .paragraphSeparator: return true
        case .format: return (0x202A...0x202E).contains(scalar.value) || (0x2066...0x2069).contains(scalar.value)
        default: return false
        }
    }
}
