import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Integration tests need root: they create network namespaces, veth pairs and TAP devices.
/// CI runs as root; elsewhere they are skipped with this reason.
let isRoot = getuid() == 0
let needsRoot = "needs root (network namespaces and TAP devices); CI runs these as root"

struct CommandFailure: Error, CustomStringConvertible {
    let description: String
}

/// Runs a program and returns its exit status and combined output.
@discardableResult
func run(_ arguments: [String], check: Bool = true) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let output = String(decoding: data, as: UTF8.self)
    if check && process.terminationStatus != 0 {
        throw CommandFailure(description: "\(arguments.joined(separator: " ")) failed (\(process.terminationStatus)): \(output)")
    }
    return (process.terminationStatus, output)
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
