import Domain

/// What a refused stale save shows: the administrator's input beside what is stored now, and who
/// changed the object last and when (the newest event recorded about it).
///
/// The form below it shows the stored values, so the administrator decides again from the
/// truth; nothing typed is lost, because the input stays on the page beside them.
enum Conflict {
    struct Row {
        var label: String
        var input: String
        var stored: String
    }

    static func context(_ site: SiteContext, subject: EventSubject.Kind, id: String, rows: [Row]) -> [String: Any] {
        var context: [String: Any] = [
            "rows": rows.map { ["label": $0.label, "input": $0.input.isEmpty ? "(empty)" : $0.input, "stored": $0.stored.isEmpty ? "(empty)" : $0.stored,
                                "differs": $0.input != $0.stored] },
        ]
        let query = EventQuery(subjectKind: subject, subjectID: id)
        if let last = try? site.dependencies.eventLog.page(offset: 0, limit: 1, matching: query).events.first {
            context["lastChange"] = [
                "who": last.actor ?? "vnetd", "time": Formatting.utc(last.time), "message": last.message,
            ]
        }
        return context
    }
}
