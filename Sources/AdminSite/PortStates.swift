import Domain

/// One state per port, as a badge and a phrase, never two that contradict each other.
///
/// The data path describes a port in a sentence ("Waiting for the VM to connect", a failure's
/// reason, notes after " · "). Pages show the state first, as one of a few badges, and the rest
/// as a hint: "Attached", "Waiting for the VM", "Not connected to a network", or what broke.
enum PortStates {
    struct State {
        /// The badge's text.
        var label: String
        /// information, warning, muted
        var tone: String
        /// What else there is to know: why it broke, how to fix it, protocol errors seen.
        var detail: String
    }

    static func of(nic: VirtualNIC, _ port: PortRuntimeStatus) -> State {
        let parts = port.detail.components(separatedBy: " · ")
        let notes = parts.dropFirst().joined(separator: " · ")
        if nic.networkID == nil {
            return State(label: "Not connected to a network", tone: "muted",
                         detail: join(port.isAttached ? "A VM is attached to its socket; frames go nowhere until it is connected." : "", notes))
        }
        if port.isAttached { return State(label: "Attached", tone: "information", detail: notes) }
        let first = parts.first ?? ""
        if first.hasPrefix("Waiting") { return State(label: "Waiting for the VM", tone: "muted", detail: notes) }
        if first == "Starting…" || first == "Not running" { return State(label: first == "Starting…" ? "Starting" : "Not running", tone: "muted", detail: notes) }
        if first.contains("was destroyed") {
            return State(label: "Interface destroyed: its namespace was deleted", tone: "warning", detail: join(first, notes))
        }
        return State(label: "Unavailable", tone: "warning", detail: join(first, notes))
    }

    static func of(uplink port: PortRuntimeStatus) -> State {
        let parts = port.detail.components(separatedBy: " · ")
        let notes = parts.dropFirst().joined(separator: " · ")
        if port.isAttached { return State(label: "Attached", tone: "information", detail: notes) }
        return State(label: "Uplink down", tone: "warning", detail: join(parts.first ?? "", notes))
    }

    static func context(_ state: State) -> [String: Any] {
        ["label": state.label, "tone": state.tone, "detail": state.detail, "hasDetail": !state.detail.isEmpty, "isProblem": state.tone == "warning"]
    }

    private static func join(_ a: String, _ b: String) -> String {
        [a, b].filter { !$0.isEmpty }.joined(separator: " · ")
    }
}
