import Domain
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Reads a new password: at a terminal, twice and without echo; otherwise the first line of
/// standard input (for scripts: `echo "$PW" | vnetd user add alice`).
enum PasswordPrompt {
    struct Mismatch: Error, CustomStringConvertible {
        var description: String { "the two passwords differ" }
    }

    struct NoInput: Error, CustomStringConvertible {
        var description: String { "no password on standard input" }
    }

    /// How events from the command line name who acted.
    static var localActor: String {
        let user = getpwuid(geteuid()).flatMap { $0.pointee.pw_name.map { String(cString: $0) } } ?? "uid \(geteuid())"
        return "\(user) (command line)"
    }

    static func read(for name: String) throws -> String {
        guard isatty(STDIN_FILENO) == 1 else {
            guard let line = readLine(strippingNewline: true) else { throw NoInput() }
            return line
        }
        let first = try readHidden(prompt: "New password for \(name): ")
        let second = try readHidden(prompt: "Repeat the password: ")
        guard first == second else { throw Mismatch() }
        return first
    }

    private static func readHidden(prompt: String) throws -> String {
        FileHandle.standardError.write(Data(prompt.utf8))
        var saved = termios()
        tcgetattr(STDIN_FILENO, &saved)
        var silent = saved
        silent.c_lflag &= ~tcflag_t(ECHO)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &silent)
        defer {
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved)
            FileHandle.standardError.write(Data("\n".utf8))
        }
        guard let line = readLine(strippingNewline: true) else { throw NoInput() }
        return line
    }
}
