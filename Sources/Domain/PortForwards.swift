import Foundation
import Packets

/// Who listens on a port of the host now (from /proc/net/{tcp,udp,tcp6,udp6}); a forward of a
/// port in use is refused with the owner named.
public protocol HostPortsReading: Sendable {
    /// A description of the listener such as `sshd (pid 812) on 0.0.0.0:22`; nil: the port is free.
    func listener(_ proto: PortForwardProtocol, port: Int, address: IPv4Address?) -> String?
}

public struct NoHostPorts: HostPortsReading {
    public init() {}
    public func listener(_ proto: PortForwardProtocol, port: Int, address: IPv4Address?) -> String? { nil }
}

/// What the port forward form submits, as typed.
public struct PortForwardDraft: Sendable, Equatable {
    public var proto: String
    /// Empty: every address of the host.
    public var hostAddress: String
    public var hostPort: String
    /// The MAC address of a NIC on the network.
    public var mac: String
    public var guestPort: String

    public init(proto: String, hostAddress: String, hostPort: String, mac: String, guestPort: String) {
        self.proto = proto
        self.hostAddress = hostAddress
        self.hostPort = hostPort
        self.mac = mac
        self.guestPort = guestPort
    }
}

public enum PortForwardRules {
    public static func port(_ text: String, field: String, problems: inout [Problem]) -> Int {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard trimmed.count <= 5, let value = Int(trimmed), (1...65_535).contains(value) else {
            problems.append(Problem(.portForwardInvalid, field: field, "Enter a port number from 1 to 65535."))
            return 0
        }
        return value
    }

    /// Two forwards clash when they share protocol and port and their host addresses overlap
    /// (no address means every address).
    public static func clashes(_ a: PortForward, _ b: PortForward) -> Bool {
        a.proto == b.proto && a.hostPort == b.hostPort && (a.hostAddress == nil || b.hostAddress == nil || a.hostAddress == b.hostAddress)
    }

    static func clashProblem(_ forward: PortForward, with other: PortForward, networkName: String) -> Problem {
        Problem(.portInUse, field: "hostPort",
                "\(forward.proto.rawValue.uppercased()) port \(forward.hostPort) of the host is already forwarded on “\(networkName)” (to \(other.mac) port \(other.guestPort)).")
    }

    static func importProblems(_ forwards: [PortForward], kind: NetworkKind, db: any InventoryReader) throws -> [Problem] {
        guard kind.isNAT else {
            return [Problem(.definitionInvalid, field: "file", "The file has port forwards, which only a NAT network can have.")]
        }
        var problems: [Problem] = []
        let existing = try db.allPortForwards()
        for (index, forward) in forwards.enumerated() {
            guard (1...65_535).contains(forward.hostPort), (1...65_535).contains(forward.guestPort) else {
                problems.append(Problem(.definitionInvalid, field: "file", "A port forward in the file has a port outside 1–65535."))
                continue
            }
            if let other = existing.first(where: { clashes($0, forward) }) {
                problems.append(clashProblem(forward, with: other, networkName: try db.network(other.network)?.name ?? "another network"))
            } else if forwards[..<index].contains(where: { clashes($0, forward) }) {
                problems.append(Problem(.definitionInvalid, field: "file", "The file forwards \(forward.proto.rawValue.uppercased()) port \(forward.hostPort) twice."))
            }
        }
        return problems
    }
}

/// The port forwards of NAT networks, edited on the network's page.
public struct PortForwardService: Sendable {
    let store: any InventoryStore
    let clock: any Clock
    let dataplane: any DataplaneApplying
    let hostPorts: any HostPortsReading

    public init(store: any InventoryStore, clock: any Clock, dataplane: any DataplaneApplying, hostPorts: any HostPortsReading) {
        self.store = store
        self.clock = clock
        self.dataplane = dataplane
        self.hostPorts = hostPorts
    }

    public func forwards(of network: NetworkID) throws -> [PortForward] {
        try store.read { db in try db.portForwards(of: network) }
    }

    @discardableResult
    public func add(to network: NetworkID, _ draft: PortForwardDraft) throws -> PortForward {
        var problems: [Problem] = []
        let proto = PortForwardProtocol(rawValue: draft.proto.lowercased())
        if proto == nil { problems.append(Problem(.portForwardInvalid, field: "proto", "Choose TCP or UDP.")) }
        let addressText = draft.hostAddress.trimmingCharacters(in: .whitespaces)
        let address = addressText.isEmpty ? nil : IPv4Address(parsing: addressText)
        if !addressText.isEmpty, address == nil || address?.isMulticast == true || address == .broadcast {
            problems.append(Problem(.portForwardInvalid, field: "hostAddress", "“\(addressText)” is not a unicast IPv4 address; leave it empty for every address of the host."))
        }
        let hostPort = PortForwardRules.port(draft.hostPort, field: "hostPort", problems: &problems)
        let guestPort = PortForwardRules.port(draft.guestPort, field: "guestPort", problems: &problems)
        let mac = MACAddress(parsing: draft.mac.trimmingCharacters(in: .whitespaces))
        if mac == nil { problems.append(Problem(.portForwardInvalid, field: "mac", "Choose the VM network adapter that receives the connections.")) }
        guard problems.isEmpty, let proto, let mac else { throw ValidationFailure(problems) }
        if let owner = hostPorts.listener(proto, port: hostPort, address: address) {
            throw ValidationFailure([Problem(.portInUse, field: "hostPort", "\(proto.rawValue.uppercased()) port \(hostPort) of the host is in use: \(owner). Choose another port.")])
        }
        let now = clock.now()
        let (saved, all) = try store.write { db in
            guard let owner = try db.network(network) else { throw NotFound("No such virtual network.") }
            guard owner.kind.isNAT else {
                throw ValidationFailure(.portForwardInvalid, "Only NAT networks forward ports; make “\(owner.name)” a NAT network first.")
            }
            guard try db.nics(on: network).contains(where: { $0.nic.mac == mac }) else {
                throw ValidationFailure([Problem(.portForwardInvalid, field: "mac", "No network adapter with \(mac) is connected to “\(owner.name)”.")])
            }
            var forward = PortForward(network: network, proto: proto, hostAddress: address, hostPort: hostPort, mac: mac, guestPort: guestPort)
            if let other = try db.allPortForwards().first(where: { PortForwardRules.clashes($0, forward) }) {
                throw ValidationFailure([PortForwardRules.clashProblem(forward, with: other, networkName: try db.network(other.network)?.name ?? "another network")])
            }
            forward.id = try db.insert(forward)
            let host = address.map(\.description) ?? "every host address"
            try db.append(Event(time: now, kind: .networkChanged, subject: .network(owner),
                                message: "Forwarding \(proto.rawValue.uppercased()) port \(hostPort) (\(host)) to \(mac) port \(guestPort) on “\(owner.name)”."))
            return (forward, try db.portForwards(of: network))
        }
        dataplane.apply(.portForwardsChanged(network, all))
        return saved
    }

    public func remove(_ id: Int64, from network: NetworkID) throws {
        let now = clock.now()
        let all = try store.write { db in
            guard let owner = try db.network(network), let forward = try db.portForwards(of: network).first(where: { $0.id == id }) else {
                throw NotFound("No such port forward.")
            }
            try db.deletePortForward(id)
            try db.append(Event(time: now, kind: .networkChanged, subject: .network(owner),
                                message: "Stopped forwarding \(forward.proto.rawValue.uppercased()) port \(forward.hostPort) to \(forward.mac) on “\(owner.name)”."))
            return try db.portForwards(of: network)
        }
        dataplane.apply(.portForwardsChanged(network, all))
    }
}
