import Domain
import Synchronization
import WebServer

/// The `<option>`s of a "Connected to" select: "Not connected" and every network.
///
/// With a thousand networks a page of four adapters would build four thousand template
/// dictionaries, so the list is rendered here, once per store generation, with every name
/// escaped by `HTMLEscaping`; each select then only marks its own choice, by splicing
/// ` selected` in at an offset found when the list was built (no search through the list, no
/// copy of it). Templates insert it with `{{{...}}}`, which is safe only because of that escaping.
final class NetworkChoices: Sendable {
    private struct Built: Sendable {
        let generation: UInt64
        let html: [UInt8]
        /// Where ` selected` goes for each value: just before the `>` of its opening tag.
        let markAt: [String: Int]
    }

    private let cached = Mutex<Built?>(nil)

    func options(_ dependencies: SiteDependencies, selected: String) throws -> PreparedHTML {
        let built = try list(dependencies)
        guard let offset = built.markAt[selected] else { return PreparedHTML([built.html[...]]) }
        return PreparedHTML([built.html[..<offset], Self.selectedMark[...], built.html[offset...]])
    }

    private static let selectedMark = Array(" selected".utf8)

    private func list(_ dependencies: SiteDependencies) throws -> Built {
        let generation = dependencies.changes.generation
        if let hit = cached.withLock({ $0 }), hit.generation == generation { return hit }
        let networks = try dependencies.store.read { try $0.allNetworks() }
        var html: [UInt8] = []
        html.reserveCapacity(networks.count * 80 + 64)
        var markAt: [String: Int] = [:]
        func option(_ value: String, _ label: String) {
            html.append(contentsOf: "<option value=\"\(HTMLEscaping.escape(value))\"".utf8)
            markAt[value] = html.count
            html.append(contentsOf: ">\(HTMLEscaping.escape(label))</option>".utf8)
        }
        option("", Labels.notConnected)
        for network in networks { option(network.id.rawValue, network.name) }
        let built = Built(generation: generation, html: html, markAt: markAt)
        cached.withLock { $0 = built }
        return built
    }
}
