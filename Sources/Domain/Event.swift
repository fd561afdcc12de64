import Foundation

/// One line of the Event Viewer: something that happened, to what, when.
public struct Event: Sendable, Equatable {
    /// Assigned by the log when the event is stored; nil before.
    public var id: Int64?
    public var time: Date
    public var kind: EventKind
    public var subject: EventSubject
    public var message: String
    /// The administrator whose request made the change; nil for vnetd's own events.
    public var actor: String?

    /// `actor` defaults to the administrator whose request is being served (see `Acting`).
    public init(id: Int64? = nil, time: Date, kind: EventKind, subject: EventSubject, message: String, actor: String? = Acting.administrator) {
        self.id = id
        self.actor = actor
        self.time = time
        self.kind = kind
        self.subject = subject
        self.message = message
    }
}

/// What happened. An open set: kinds written by newer versions still load in older ones.
public struct EventKind: RawRepresentable, Hashable, Sendable {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let serverStarted = EventKind(rawValue: "server.started")
    public static let serverStopped = EventKind(rawValue: "server.stopped")

    /// The severity shown in the Event Viewer.
    public var level: EventLevel {
        if rawValue.hasSuffix(".failed") || rawValue.hasSuffix(".error") { return .error }
        if rawValue.hasSuffix(".warning") || rawValue.hasSuffix(".missing") { return .warning }
        return .information
    }
}

public enum EventLevel: String, Sendable {
    case information, warning, error
}

/// The object an event is about; `id` lets pages link to it while it exists.
public struct EventSubject: Sendable, Equatable {
    public var kind: Kind
    public var id: String?
    public var name: String

    public enum Kind: String, Sendable {
        case server, network, virtualMachine = "vm", adapter, nic, administrator
    }

    public init(kind: Kind, id: String? = nil, name: String) {
        self.kind = kind
        self.id = id
        self.name = name
    }

    public static let server = EventSubject(kind: .server, name: "vnetd")
}

/// Who is acting: the admin site binds the signed-in administrator around each request, the
/// command line binds the local user, so every event a change records names who made it
/// without each service call passing it along.
public enum Acting {
    @TaskLocal public static var administrator: String?
}

/// A page of events, newest first, and how many there are in all.
public struct EventPage: Sendable {
    public var events: [Event]
    public var totalCount: Int

    public init(events: [Event], totalCount: Int) {
        self.events = events
        self.totalCount = totalCount
    }
}

/// The stored event log.
public protocol EventLog: Sendable {
    /// Stores an event and returns it with its id.
    @discardableResult
    func append(_ event: Event) throws -> Event
    /// Events that match `query`, newest first, skipping `offset` of them.
    func page(offset: Int, limit: Int, matching query: EventQuery) throws -> EventPage
    /// Deletes, oldest first, at most `limit` events that are older than `cutoff` or have
    /// `count` newer events; returns how many it deleted (0: nothing left to prune).
    func prune(keepingNewest count: Int, olderThan cutoff: Date?, limit: Int) throws -> Int
}

extension EventLog {
    /// Every event, newest first, skipping `offset` of them.
    public func page(offset: Int, limit: Int) throws -> EventPage {
        try page(offset: offset, limit: limit, matching: EventQuery())
    }

    /// The id of the newest event (0 when the log is empty).
    public func newestID() throws -> Int64 {
        try page(offset: 0, limit: 1).events.first?.id ?? 0
    }
}

/// Which events a page asks for; every condition left nil matches all.
public struct EventQuery: Sendable, Equatable {
    /// The part of the kind before its first dot: "network", "vm", "nic", "adapter", "port", ...
    public var category: String?
    public var level: EventLevel?
    public var subjectKind: EventSubject.Kind?
    /// With `subjectKind`: one object.
    public var subjectID: String?
    /// Only events with an id in this range (what one action recorded).
    public var ids: ClosedRange<Int64>?
    /// Only events recorded for this administrator.
    public var actor: String?

    public init(category: String? = nil, level: EventLevel? = nil, subjectKind: EventSubject.Kind? = nil, subjectID: String? = nil,
                ids: ClosedRange<Int64>? = nil, actor: String? = nil) {
        self.category = category
        self.level = level
        self.subjectKind = subjectKind
        self.subjectID = subjectID
        self.ids = ids
        self.actor = actor
    }
}

/// Records events with the time taken from the injected clock.
public struct EventRecorder: Sendable {
    private let log: any EventLog
    private let clock: any Clock

    public init(log: any EventLog, clock: any Clock) {
        self.log = log
        self.clock = clock
    }

    @discardableResult
    public func record(_ kind: EventKind, _ subject: EventSubject, _ message: String) throws -> Event {
        try log.append(Event(time: clock.now(), kind: kind, subject: subject, message: message))
    }
}
