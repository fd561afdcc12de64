/// A rule the request broke, with a message a person understands and, when it belongs to one
/// form field, that field's name (`name`, `adapter`, `nic-2-mac`, ...), so pages show it there.
public struct Problem: Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case nameRequired, nameTooLong, nameHasForbiddenCharacters, nameTaken
        case adapterNotBound, adapterNotFound, adapterInUse, adapterTaken, adapterLoops
        case tooManyNICs, nicNotFound, nicBelongsElsewhere
        case macInvalid, macNotUnicast, macZero, macInUse, macPoolExhausted
        case networkNotFound
        case staleEdit
        case notesTooLong
        case definitionInvalid
        case dhcpInvalid, reservationInvalid
        case hostInterfaceInvalid, portForwardInvalid, portInUse
        case stormControlInvalid
        case administratorNameInvalid, administratorNameTaken, administratorNotFound, lastAdministrator
        case passwordTooShort, passwordTooLong, passwordInvalid
        /// The disk holding the store is full: nothing was written.
        case storageFull
    }

    public let code: Code
    public let field: String?
    public let message: String

    public init(_ code: Code, field: String?, _ message: String) {
        self.code = code
        self.field = field
        self.message = message
    }

    public var description: String { message }
}

/// Thrown when a change breaks one or more rules. Nothing was written.
public struct ValidationFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public let problems: [Problem]

    public init(_ problems: [Problem]) {
        self.problems = problems
    }

    public init(_ code: Problem.Code, field: String? = nil, _ message: String) {
        problems = [Problem(code, field: field, message)]
    }

    public func has(_ code: Problem.Code) -> Bool { problems.contains { $0.code == code } }

    public var description: String { problems.map(\.message).joined(separator: " ") }
}

/// The object a request names does not exist (any more). Pages answer 404.
public struct NotFound: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
