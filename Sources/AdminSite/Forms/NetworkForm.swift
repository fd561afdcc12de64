import Domain
import WebServer

/// The fields of the Create and Network Settings forms, as typed by the user.
struct NetworkForm {
    static let fields: Set<String> = ["name", "adapter", "notes", "connect", "disconnect"]

    var name = ""
    /// "" for None (Guest Only).
    var adapter = ""
    var notes = ""
    var connect: Set<String> = []
    var disconnect: Set<String> = []

    init() {}

    init(_ network: VirtualNetwork) {
        name = network.name
        adapter = network.kind.adapterName ?? ""
        notes = network.notes
    }

    init(request: Request) {
        name = request.field("name")
        adapter = request.field("adapter")
        notes = request.field("notes")
        connect = Set(request.form.values("connect").filter(PathID.isWellFormed))
        disconnect = Set(request.form.values("disconnect").filter(PathID.isWellFormed))
    }

    var draft: NetworkDraft {
        NetworkDraft(name: name, adapter: adapter.isEmpty ? nil : adapter, notes: notes)
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
        var context: [String: Any] = [
            "form": ["name": name, "notes": notes],
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
