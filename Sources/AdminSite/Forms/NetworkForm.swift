import Domain
import WebServer

/// The fields of the Create and Network Settings forms, as typed by the user.
struct NetworkForm {
    static let fields: Set<String> = ["name", "kind", "adapter", "hostAddress", "ipv6", "outbound", "notes", "connect", "disconnect"]

    var name = ""
    /// "" for None (Guest Only).
    var adapter = ""
    /// `NetworkDraft.Kind`'s raw value; "" when the form had no such field (derived from `adapter`).
    var kind = ""
    var host = HostInterfaceDraft(ipv6: "auto")
    var notes = ""
    var connect: Set<String> = []
    var disconnect: Set<String> = []

    init() {}

    init(_ network: VirtualNetwork) {
        name = network.name
        adapter = network.kind.adapterName ?? ""
        kind = NetworkDraft(NetworkDefinition(name: network.name, kind: network.kind, notes: "")).effectiveKind.rawValue
        host = HostInterfaceDraft(network.hostInterface, kind: network.kind)
        if !network.kind.hasHostInterface { host.ipv6 = "auto" }
        notes = network.notes
    }

    init(request: Request) {
        name = request.field("name")
        adapter = request.field("adapter")
        kind = request.field("kind")
        host = HostInterfaceDraft(address: request.field("hostAddress"), ipv6: request.field("ipv6"), outbound: request.field("outbound"))
        notes = request.field("notes")
        connect = Set(request.form.values("connect").filter(PathID.isWellFormed))
        disconnect = Set(request.form.values("disconnect").filter(PathID.isWellFormed))
    }

    var draft: NetworkDraft {
        let chosen = NetworkDraft.Kind(rawValue: kind)
        // A kind other than external keeps no adapter; "external" without one is guest-only's twin.
        return NetworkDraft(name: name, adapter: chosen == nil || chosen == .external ? (adapter.isEmpty ? nil : adapter) : nil, notes: notes,
                            kind: chosen == .external && adapter.isEmpty ? .guestOnly : chosen, host: host)
    }

    /// The four kinds, each with its one-line explanation, for the Create and Settings forms.
    func kindChoices() -> [[String: Any]] {
        let current = NetworkDraft.Kind(rawValue: kind) ?? (adapter.isEmpty ? .guestOnly : .external)
        let choices: [(NetworkDraft.Kind, String, String)] = [
            (.guestOnly, Labels.guestOnly, "VMs reach only each other."),
            (.external, "External (bound to a host adapter)", "VMs sit on the host adapter's LAN, beside the host."),
            (.host, "Host and guests", "The host gets an interface on the network: the host and its VMs talk; nothing is forwarded beyond the host."),
            (.nat, "NAT", "Host and guests, and VMs also reach the outside through the host, masqueraded; ports of the host can be forwarded to VMs."),
        ]
        return choices.map { ["value": $0.0.rawValue, "label": $0.1, "explanation": $0.2, "checked": current == $0.0] }
    }

    /// Template values: the typed fields, the adapter choices and the NIC check boxes.
    /// - Parameters:
    ///   - current: the adapter the network has now, offered even when it is missing or unbound.
    func context(adapters: [HostAdapter], current: String?, unconnected: [NICListing], connected: [NICListing]?) -> [String: Any] {
        var options: [[String: Any]] = [["value": "", "label": Labels.guestOnly, "selected": adapter.isEmpty]]
        for item in adapters where item.isBound && item.isPresent {
            options.append(["value": item.name, "label": "\(item.name) (\(Labels.adapterState(item)))", "selected": adapter == item.name])
        }
        for name in [current, adapter.isEmpty ? nil : adapter].compactMap({ $0 }) where !options.contains(where: { ($0["value"] as? String) == name }) {
            let known = adapters.first { $0.name == name }
            let note = known?.isPresent == true ? "Virtual Machine Network Services off" : "adapter not found"
            options.append(["value": name, "label": "\(name) (\(note))", "selected": adapter == name])
        }
        var outboundOptions: [[String: Any]] = [["value": "", "label": "The interface of the host's default route", "selected": host.outbound.isEmpty]]
        for item in adapters where item.isPresent {
            outboundOptions.append(["value": item.name, "label": "\(item.name) (\(Labels.adapterState(item)))", "selected": host.outbound == item.name])
        }
        if !host.outbound.isEmpty, !outboundOptions.contains(where: { ($0["value"] as? String) == host.outbound }) {
            outboundOptions.append(["value": host.outbound, "label": "\(host.outbound) (adapter not found)", "selected": true])
        }
        var context: [String: Any] = [
            "form": ["name": name, "notes": notes, "hostAddress": host.address, "ipv6": host.ipv6],
            "kindChoices": kindChoices(),
            "outboundOptions": outboundOptions,
            "adapterOptions": options,
            "hasBoundAdapters": adapters.contains { $0.isBound && $0.isPresent },
            "unconnected": unconnected.map { listing in
                Self.nicRow(listing, checked: connect.contains(listing.nic.id.rawValue))
            },
            "hasUnconnected": !unconnected.isEmpty,
            "notesLimit": NotesRules.maximumLength,
        ]
        if let connected {
            context["connected"] = connected.map { Self.nicRow($0, checked: disconnect.contains($0.nic.id.rawValue)) }
            context["hasConnected"] = !connected.isEmpty
        }
        return context
    }

    static func nicRow(_ listing: NICListing, checked: Bool) -> [String: Any] {
        [
            "id": listing.nic.id.rawValue,
            "vmID": listing.nic.vmID.rawValue,
            "vmName": listing.vmName,
            "label": listing.nic.label,
            "mac": Labels.mac(listing.nic.mac),
            "checked": checked,
        ]
    }
}
