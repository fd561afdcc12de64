import Foundation

/// Storm control of a network (Network Settings): how many broadcast, multicast and
/// unknown-unicast frames per second each of its ports may bring in. nil: no limit; all nil, the
/// default, is off. Frames over a limit are dropped and counted by reason on the port.
public struct StormControlSettings: Sendable, Equatable {
    public var broadcast: Int?
    public var multicast: Int?
    public var unknownUnicast: Int?

    public init(broadcast: Int? = nil, multicast: Int? = nil, unknownUnicast: Int? = nil) {
        self.broadcast = broadcast
        self.multicast = multicast
        self.unknownUnicast = unknownUnicast
    }

    public var isOff: Bool { broadcast == nil && multicast == nil && unknownUnicast == nil }

    /// Frames per second a limit may be: at least one, at most what one port could ever carry.
    public static let allowed = 1...10_000_000

    /// The form's field of each limit, with its name in messages.
    public static let fields = [("stormBroadcast", "broadcast"), ("stormMulticast", "multicast"), ("stormUnknownUnicast", "unknown unicast")]

    var values: [Int?] { [broadcast, multicast, unknownUnicast] }

    public func problems() -> [Problem] {
        zip(values, Self.fields).compactMap { value, field in
            guard let value, !Self.allowed.contains(value) else { return nil }
            return Problem(.stormControlInvalid, field: field.0,
                           "The \(field.1) limit must be a whole number of frames per second from 1 to 10,000,000, or empty for no limit.")
        }
    }

    /// "broadcast 1,000 frames/s, multicast no limit, unknown unicast no limit", or "off".
    public var summary: String {
        guard !isOff else { return "off" }
        return zip(values, Self.fields).map { value, field in
            "\(field.1) " + (value.map { "\($0.formatted(.number.grouping(.automatic))) frames/s" } ?? "no limit")
        }.joined(separator: ", ")
    }
}

extension NetworkService {
    /// Sets a network's storm control. `version` is the network's version the form saw: a
    /// network changed since is refused as a stale edit; a save raises it. Recorded as a change
    /// of the network when the limits differ.
    @discardableResult
    public func setStormControl(of id: NetworkID, version: Int, _ settings: StormControlSettings) throws -> VirtualNetwork {
        let now = clock.now()
        let stale = "This network was changed by someone else since you opened the form. The form now shows the current settings; make your changes again."
        let network: VirtualNetwork? = try store.write { db in
            guard let current = try db.network(id) else { throw NotFound("No such virtual network.") }
            guard current.version == version else { throw ValidationFailure(.staleEdit, stale) }
            let problems = settings.problems()
            guard problems.isEmpty else { throw ValidationFailure(problems) }
            let before = try db.stormControl(of: id)
            guard before != settings else { return nil }
            var updated = current
            updated.changedAt = now
            updated.version = current.version + 1
            guard try db.update(updated) else { throw ValidationFailure(.staleEdit, stale) }
            try db.save(settings, for: id)
            try db.append(Event(time: now, kind: .networkChanged, subject: .network(updated),
                                message: "Storm control of “\(updated.name)”: \(settings.summary) (was \(before.summary))."))
            return updated
        }
        guard let network else { return try store.read { try $0.network(id) } ?? { throw NotFound("No such virtual network.") }() }
        dataplane.apply(.stormControlChanged(id, settings))
        return network
    }
}
