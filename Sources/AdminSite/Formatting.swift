import Domain
import Foundation

/// Text forms used across pages. Times are shown in UTC with the zone named, the same on every page.
enum Formatting {
    /// Times are clamped to years 0001...9999 (a lease may end "in 100 years"; a stored time
    /// that cannot be a real one must not trap the conversion).
    static func utc(_ date: Date) -> String {
        let seconds = date.timeIntervalSince1970
        let total = seconds.isNaN ? 0 : Int64(min(max(seconds, -62_135_596_800), 253_402_300_799).rounded(.down))
        let days = total >= 0 ? total / 86_400 : (total - 86_399) / 86_400
        let secondsOfDay = total - days * 86_400
        let (year, month, day) = civil(fromDays: days)
        return String(
            format: "%04d-%02d-%02d %02d:%02d:%02d UTC",
            year, month, day, secondsOfDay / 3600, (secondsOfDay % 3600) / 60, secondsOfDay % 60)
    }

    /// "3 d 4 h", "5 h 2 min", "7 min", "42 s": how long something has been going, to the
    /// precision a person reads (so a page showing it changes at most once a minute after the first).
    static func duration(_ seconds: TimeInterval) -> String {
        let whole = seconds.isNaN ? 0 : Int(min(max(0, seconds), 1e15))
        let days = whole / 86_400, hours = (whole % 86_400) / 3600, minutes = (whole % 3600) / 60
        if days > 0 { return "\(days) d \(hours) h" }
        if hours > 0 { return "\(hours) h \(minutes) min" }
        if minutes > 0 { return "\(minutes) min" }
        return "\(whole) s"
    }

    /// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
    static func civil(fromDays days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// "1.5 MB", "812 B": byte counts as people read them (decimal units, like network tools).
    static func bytes(_ count: UInt64) -> String {
        let units = ["B", "kB", "MB", "GB", "TB"]
        var value = Double(count)
        var unit = 0
        while value >= 1000 && unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        return unit == 0 ? "\(count) B" : String(format: value < 10 ? "%.1f %@" : "%.0f %@", value, units[unit])
    }

    static func counters(_ traffic: TrafficCounters) -> [String: Any] {
        [
            "rxFrames": traffic.rxFrames, "rxBytes": bytes(traffic.rxBytes),
            "txFrames": traffic.txFrames, "txBytes": bytes(traffic.txBytes),
            "dropsText": traffic.drops.map { "\($0.count) \($0.reason)" }.joined(separator: ", "),
            "hasDrops": !traffic.drops.isEmpty,
        ]
    }

    /// Text a guest chose (a DHCP host name) as pages show it: without control characters,
    /// line or paragraph separators, or bidirectional overrides, which could break a table row
    /// or disguise the text around it. The store keeps what the guest sent.
    static func guestText(_ text: String) -> String {
        var shown = String.UnicodeScalarView()
        for scalar in text.unicodeScalars where !isHidden(scalar) { shown.append(scalar) }
        return String(shown)
    }

    private static func isHidden(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .lineSeparator, .paragraphSeparator: return true
        case .format: return (0x202A...0x202E).contains(scalar.value) || (0x2066...0x2069).contains(scalar.value)
        default: return false
        }
    }

    /// What an id may keep unencoded in a query string: letters, digits and the dashes of a UUID.
    static let idCharacters = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-"))

    static func eventRow(_ event: Event) -> [String: Any] {
        var row: [String: Any] = [
            "time": utc(event.time),
            "level": event.kind.level.rawValue,
            "kind": event.kind.rawValue,
            "subject": event.subject.name,
            "message": event.message,
        ]
        if let link = link(to: event.subject) { row["subjectLink"] = link }
        if let id = event.subject.id, let encoded = id.addingPercentEncoding(withAllowedCharacters: Self.idCharacters) {
            row["subjectFilter"] = "/events?object=\(event.subject.kind.rawValue):\(encoded)"
        }
        if let actor = event.actor { row["actor"] = actor }
        return row
    }

    /// The page of an event's subject, when it has one.
    static func link(to subject: EventSubject) -> String? {
        guard let id = subject.id, let encoded = id.addingPercentEncoding(withAllowedCharacters: .alphanumerics) else {
            return nil
        }
        switch subject.kind {
        case .network: return "/networks/\(encoded)"
        case .virtualMachine: return "/vms/\(encoded)"
        case .adapter: return "/adapters"
        case .server, .nic, .administrator: return nil
        }
    }
}
