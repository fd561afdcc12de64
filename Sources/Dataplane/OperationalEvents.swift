import Domain
import Foundation
import Logging
import Synchronization

/// Operational events: what happened to ports, uplinks and DHCP pools without anyone saving a
/// form, recorded in the event log as vnetd's own (no administrator), so the Event Viewer shows
/// them beside the changes that may have caused them.
///
/// Transitions are found by comparing each status snapshot with the one before it, on the loop
/// thread, where the snapshot is built anyway: a VM that connected or left its socket, a TAP
/// whose interface was destroyed, an uplink that went down or came back, a DHCP pool that had
/// no address for a DISCOVER (the server's `exhausted` counter grew). Writing to the log is
/// handed to a queue of its own, so the data path never waits for the database; and each port
/// and kind is limited to one event per interval, so a guest that reconnects in a loop cannot
/// flood the log (the next event names how many were left out).
public final class OperationalEvents: Sendable {
    private struct Target {
        let log: any EventLog
        let clock: any Domain.Clock
        let logger: Logger
    }

    private let target = Mutex<Target?>(nil)
    private let queue = DispatchQueue(label: "vnetd.operational-events")
    let limiter = OperationalEventLimiter(interval: 30)

    public init() {}

    /// Starts recording into `log`; until then transitions are only compared, not recorded.
    public func connect(_ log: any EventLog, clock: any Domain.Clock, logger: Logger) {
        target.withLock { $0 = Target(log: log, clock: clock, logger: logger) }
    }

    /// Records one transition unless the limiter holds it back. `key` names the port or pool and the kind.
    func record(_ kind: EventKind, _ subject: EventSubject, _ message: String, key: String) {
        guard let target = target.withLock({ $0 }) else { return }
        let now = target.clock.now()
        guard let skipped = limiter.admit(key: key, now: now.timeIntervalSince1970) else { return }
        let text = skipped == 0 ? message : message + " (\(skipped) more like this in the last interval were not recorded.)"
        queue.async {
            do {
                try target.log.append(Event(time: now, kind: kind, subject: subject, message: text, actor: nil))
            } catch {
                target.logger.warning("could not record an operational event", metadata: ["kind": "\(kind.rawValue)", "error": "\(error)"])
            }
        }
    }

    /// Waits until every event handed over so far is written (tests).
    public func flush() {
        queue.sync {}
    }
}

/// At most one event per key per `interval` seconds; counts what it holds back.
public final class OperationalEventLimiter: Sendable {
    private struct Slot {
        var last: Double
        var skipped: Int
    }

    private let slots = Mutex<[String: Slot]>([:])
    private let interval: Double

    public init(interval: Double) {
        self.interval = interval
    }

    /// nil: hold this one back. Otherwise record it, mentioning the returned number left out before it.
    public func admit(key: String, now: Double) -> Int? {
        slots.withLock { slots in
            if var slot = slots[key], now - slot.last < interval {
                slot.skipped += 1
                slots[key] = slot
                return nil
            }
            let skipped = slots[key]?.skipped ?? 0
            if slots.count > 10_000 { slots.removeAll(keepingCapacity: true) }
            slots[key] = Slot(last: now, skipped: 0)
            return skipped
        }
    }
}

extension DataplaneShard {
    /// Compares the snapshot just made with the one pages read until now (status queue), with
    /// the names from the copy it was made from.
    func noticeTransitions(from old: StatusSnapshot, to new: StatusSnapshot, _ copy: StatusCopy) {
        let nics = Dictionary(copy.ports.map { ($0.nic.id, $0) }, uniquingKeysWith: { first, _ in first })
        let names = Dictionary(copy.networks.map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
        for (id, port) in new.ports {
            guard let before = old.ports[id], let nic = nics[id]?.nic else { continue }
            let vmName = nics[id]?.vmName ?? "VM"
            let subject = EventSubject(kind: .virtualMachine, id: nic.vmID.rawValue, name: vmName)
            let what = "\(nic.label) of “\(vmName)”"
            if nic.backend != .tap, before.isAttached != port.isAttached, before.endpoint == port.endpoint, port.endpoint != nil {
                if port.isAttached {
                    record(.vmConnected, subject, "\(what): a QEMU process connected to its \(nic.backend == .socket ? "stream" : "datagram") socket.", key: id.rawValue)
                } else {
                    record(.vmDisconnected, subject, "\(what): its QEMU process disconnected; the port waits for it to connect again.", key: id.rawValue)
                }
            }
            if nic.backend == .tap, port.detail.contains("was destroyed"), !before.detail.contains("was destroyed") {
                record(.tapDestroyed, subject, "\(what): \(port.detail.components(separatedBy: " · ")[0])", key: id.rawValue)
            }
        }
        for (network, status) in new.networks {
            guard let before = old.networks[network] else { continue }
            let name = names[network] ?? "?"
            let subject = EventSubject(kind: .network, id: network.rawValue, name: name)
            for uplink in status.ports {
                guard case .uplink(let adapter) = uplink.kind,
                      let previous = before.ports.first(where: { $0.kind == uplink.kind }), previous.isAttached != uplink.isAttached else { continue }
                if uplink.isAttached {
                    record(.uplinkRestored, subject, "The uplink of “\(name)” to host adapter \(adapter) is back.", key: "\(network.rawValue)|\(adapter)")
                } else {
                    record(.uplinkLost, subject, "The uplink of “\(name)” to host adapter \(adapter) was lost: \(uplink.detail)", key: "\(network.rawValue)|\(adapter)")
                }
            }
            if let dhcp = status.dhcp, let was = before.dhcp, dhcp.exhausted > was.exhausted {
                let count = dhcp.exhausted - was.exhausted
                record(.dhcpPoolExhausted, subject,
                       "The DHCP server of “\(name)” had no free address for \(count) DISCOVER\(count == 1 ? "" : "s"): its pool is exhausted. Widen the range or shorten the lease time.",
                       key: network.rawValue)
            }
        }
    }

    private func record(_ kind: EventKind, _ subject: EventSubject, _ message: String, key: String) {
        services.operationalEvents.record(kind, subject, message, key: "\(kind.rawValue)|\(key)")
    }
}
