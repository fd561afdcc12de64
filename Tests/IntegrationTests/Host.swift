import Foundation
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Integration tests need root: they create network namespaces, veth pairs and TAP devices.
/// CI runs as root; elsewhere they are skipped with this reason.
let isRoot = getuid() == 0
let needsRoot = "needs root (network namespaces and TAP devices); CI runs these as root"
/// CI sets VNETD_REQUIRE_ROOT=1: there the root tests run whoever runs them, so a runner without
/// root fails them instead of passing by skipping.
let rootIsRequired = ProcessInfo.processInfo.environment["VNETD_REQUIRE_ROOT"] == "1"
let rootTestsRun = isRoot || rootIsRequired

/// The vnetd executable the tests start: `VNETD_BINARY` when set (e.g. a release build for the
/// soak figures), else the debug build `make test` makes, else a release build.
let vnetdExecutable: String? = {
    if let chosen = ProcessInfo.processInfo.environment["VNETD_BINARY"] { return chosen }
    return [repositoryRoot + "/.build/debug/vnetd", repositoryRoot + "/.build/release/vnetd"].first { FileManager.default.isExecutableFile(atPath: $0) }
}()

struct CommandFailure: Error, CustomStringConvertible {
    let description: String
}

/// Runs a program and returns its exit status and combined output. Uses posix_spawn and
/// waitpid directly: Foundation's Process can miss the exit of a child whose own child
/// daemonizes (udhcpc -b), and then waits forever.
@discardableResult
/// A TCP port for a vnetd under test to listen on: below the kernel's ephemeral range (32768 and
/// up here), so no outgoing connection of another test holds it, and seen free by binding it
/// first. A random port in 20,000–40,000 once collided ("address already in use") in CI.
func unusedLoopbackPort() -> UInt16 {
    for _ in 0..<200 {
        let port = UInt16.random(in: 20_000...32_000)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { continue }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr = in_addr(s_addr: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if bound == 0 { return port }
    }
    return UInt16.random(in: 20_000...32_000)
}

func run(_ arguments: [String], check: Bool = true) throws -> (status: Int32, output: String) {
    var fds: [Int32] = [0, 0]
    guard pipe(&fds) == 0 else { throw CommandFailure(description: "pipe failed") }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
    posix_spawn_file_actions_adddup2(&actions, fds[1], 2)
    posix_spawn_file_actions_addclose(&actions, fds[0])
    posix_spawn_file_actions_addclose(&actions, fds[1])
    let argv = (["/usr/bin/env"] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid: pid_t = 0
    var attributes = defaultSignalAttributes()
    defer { posix_spawnattr_destroy(&attributes) }
    let spawned = posix_spawn(&pid, "/usr/bin/env", &actions, &attributes, argv, environ)
    close(fds[1])
    guard spawned == 0 else {
        close(fds[0])
        throw CommandFailure(description: "cannot run \(arguments.joined(separator: " ")): \(spawned)")
    }
    var output: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = buffer.withUnsafeMutableBytes { read(fds[0], $0.baseAddress, $0.count) }
        if count > 0 { output += buffer[0..<count]; continue }
        if count < 0 && errno == EINTR { continue }
        break
    }
    close(fds[0])
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let exitCode: Int32 = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
    let text = String(decoding: output, as: UTF8.self)
    if check && exitCode != 0 {
        throw CommandFailure(description: "\(arguments.joined(separator: " ")) failed (\(exitCode)): \(text)")
    }
    return (exitCode, text)
}

/// Children start the way a shell starts them: no signal blocked, every disposition at its
/// default. Without this they inherit the test thread's mask (a tcpdump that cannot be stopped)
/// and anything the test process ignores (a vnetd that could never die of SIGPIPE).
func defaultSignalAttributes() -> posix_spawnattr_t {
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    var none = sigset_t()
    sigemptyset(&none)
    var all = sigset_t()
    sigfillset(&all)
    posix_spawnattr_setsigmask(&attributes, &none)
    posix_spawnattr_setsigdefault(&attributes, &all)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    return attributes
}

/// Starts a program in the background with its output appended to `logFile`; returns its pid.
func spawn(_ arguments: [String], logFile: String) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, logFile, O_WRONLY | O_CREAT | O_APPEND, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    let argv = (["/usr/bin/env"] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid: pid_t = 0
    var attributes = defaultSignalAttributes()
    defer { posix_spawnattr_destroy(&attributes) }
    let spawned = posix_spawn(&pid, "/usr/bin/env", &actions, &attributes, argv, environ)
    guard spawned == 0 else { throw CommandFailure(description: "cannot start \(arguments.joined(separator: " ")): \(spawned)") }
    return pid
}

/// A network namespace standing in for a VM (or a LAN host), deleted when released.
final class Namespace {
    let name: String

    init(_ role: String) throws {
        name = "vnt-\(role)-\(UInt32.random(in: 0...0xFFFFFF))"
        try run(["ip", "netns", "add", name])
        try run(["ip", "-n", name, "link", "set", "lo", "up"])
    }

    /// Moves a host interface into this namespace, gives it an address and brings it up.
    func adopt(_ interface: String, address: String) throws {
        try run(["ip", "link", "set", interface, "netns", name])
        try run(["ip", "-n", name, "addr", "add", address, "dev", interface])
        try run(["ip", "-n", name, "link", "set", interface, "up"])
    }

    /// True when `count` pings to `address` all get answers (a few tries for ARP and links to settle).
    func canPing(_ address: String, count: Int = 3) throws -> Bool {
        for _ in 0..<3 {
            let result = try run(["ip", "netns", "exec", name, "ping", "-c", "\(count)", "-i", "0.2", "-W", "1", "-q", address], check: false)
            if result.status == 0 { return true }
        }
        return false
    }

    /// One quick attempt, for "must not reach".
    func reaches(_ address: String) throws -> Bool {
        try run(["ip", "netns", "exec", name, "ping", "-c", "2", "-i", "0.2", "-W", "1", "-q", address], check: false).status == 0
    }

    deinit {
        _ = try? run(["ip", "netns", "del", name], check: false)
    }
}

/// Waits until `condition` holds, at most `seconds`.
func eventually(_ seconds: Double = 5, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        usleep(50_000)
    }
    return try condition()
}
