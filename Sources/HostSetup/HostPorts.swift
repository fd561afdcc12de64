import Foundation
import Packets

/// Sockets of the host bound to a port, from /proc/net/{tcp,udp,tcp6,udp6}, with their owning
/// process found through /proc/<pid>/fd.
public enum HostPorts {
    public struct Listener: Sendable, Equatable {
        public var proto: String
        /// The bound address as text (`0.0.0.0`, `127.0.0.1`, `::`).
        public var address: String
        public var port: Int
        public var inode: UInt64
        public var isWildcard: Bool
        public var ipv4: IPv4Address?
    }

    /// TCP sockets listening (state 0A) and UDP sockets bound (state 07) in one /proc/net table.
    public static func parse(_ text: String, proto: String, ipv6: Bool) -> [Listener] {
        var result: [Listener] = []
        for line in text.split(separator: "\n").dropFirst() {
            let fields = line.split(whereSeparator: { $0 == " " })
            guard fields.count >= 10 else { continue }
            let state = fields[3]
            guard proto == "tcp" ? state == "0A" : state == "07" else { continue }
            let local = fields[1].split(separator: ":")
            guard local.count == 2, let port = Int(local[1], radix: 16), let inode = UInt64(fields[9]) else { continue }
            let hex = String(local[0])
            if ipv6 {
                guard hex.count == 32 else { continue }
                let zero = hex.allSatisfy { $0 == "0" }
                // ::ffff:a.b.c.d, stored as four little-endian words.
                let mapped = hex.hasPrefix("0000000000000000FFFF0000")
                let v4 = mapped ? UInt32(hex.suffix(8), radix: 16).map { IPv4Address(value: $0.byteSwapped) } : nil
                result.append(Listener(proto: proto, address: zero ? "::" : (v4?.description ?? "an IPv6 address"), port: port, inode: inode,
                                       isWildcard: zero, ipv4: v4))
            } else {
                guard hex.count == 8, let raw = UInt32(hex, radix: 16) else { continue }
                let address = IPv4Address(value: raw.byteSwapped)
                result.append(Listener(proto: proto, address: address.description, port: port, inode: inode, isWildcard: address == .any, ipv4: address))
            }
        }
        return result
    }

    /// Listeners on `port` that a forward to `address` (nil: every address) would collide with.
    public static func listeners(_ proto: String, port: Int, address: IPv4Address?, procRoot: String = "/proc") -> [Listener] {
        var all: [Listener] = []
        for (file, ipv6) in [(proto, false), (proto + "6", true)] {
            if let text = try? String(contentsOfFile: "\(procRoot)/net/\(file)", encoding: .utf8) {
                all += parse(text, proto: proto, ipv6: ipv6)
            }
        }
        return all.filter { listener in
            guard listener.port == port else { return false }
            guard let address, !listener.isWildcard, let bound = listener.ipv4 else { return true }
            return bound == address || bound.isLoopback == false && address == .any
        }
    }

    /// `name (pid N)` of the process holding the socket, when one can be found.
    public static func owner(of inode: UInt64, procRoot: String = "/proc") -> String? {
        let manager = FileManager.default
        let target = "socket:[\(inode)]"
        for pid in (try? manager.contentsOfDirectory(atPath: procRoot)) ?? [] where pid.allSatisfy(\.isNumber) {
            let folder = "\(procRoot)/\(pid)/fd"
            for fd in (try? manager.contentsOfDirectory(atPath: folder)) ?? [] {
                if (try? manager.destinationOfSymbolicLink(atPath: "\(folder)/\(fd)")) == target {
                    let name = (try? String(contentsOfFile: "\(procRoot)/\(pid)/comm", encoding: .utf8))?
                        .trimmingCharacters(in: .whitespacesAndNewlines) ?? "a process"
                    return "\(name) (pid \(pid))"
                }
            }
        }
        return nil
    }
}
