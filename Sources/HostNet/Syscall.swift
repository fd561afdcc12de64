import CLinuxNet
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A failed system call, naming the call and the errno it returned.
public struct SystemError: Error, Equatable, CustomStringConvertible {
    public let call: String
    public let errno: Int32

    public init(_ call: String, _ errno: Int32) {
        self.call = call
        self.errno = errno
    }

    public var description: String { "\(call): \(String(cString: strerror(errno)))" }

    public var isPermissionDenied: Bool { errno == EPERM || errno == EACCES }
}

/// The one door through which HostNet reaches the kernel: every call retries on EINTR and
/// reports failure as a `SystemError` naming the call. "Would block" is not an error: calls that
/// can return it give `nil` instead.
public enum Syscall {
    /// For calls returning -1 and setting errno.
    @discardableResult
    public static func check(_ name: String, _ call: () -> Int) throws(SystemError) -> Int {
        while true {
            let result = call()
            if result >= 0 { return result }
            let error = Glibc.errno
            if error == EINTR { continue }
            throw SystemError(name, error)
        }
    }

    /// For non-blocking I/O: nil when the call would block.
    public static func nonBlocking(_ name: String, _ call: () -> Int) throws(SystemError) -> Int? {
        while true {
            let result = call()
            if result >= 0 { return result }
            let error = Glibc.errno
            if error == EINTR { continue }
            if error == EAGAIN || error == EWOULDBLOCK { return nil }
            throw SystemError(name, error)
        }
    }

    /// For the CLinuxNet helpers, which return -errno.
    @discardableResult
    public static func helper(_ name: String, _ call: () -> Int) throws(SystemError) -> Int {
        while true {
            let result = call()
            if result >= 0 { return result }
            if Int32(-result) == EINTR { continue }
            throw SystemError(name, Int32(-result))
        }
    }

    public static func close(_ fd: Int32) {
        _ = Glibc.close(fd)
    }

    /// Milliseconds on a clock that never jumps: the switch's notion of now.
    public static func monotonicMilliseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }

    /// Effective capabilities of this process (CAP_NET_ADMIN = 12, CAP_NET_RAW = 13).
    public static func hasCapability(_ bit: Int) -> Bool {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") }),
            let mask = UInt64(line.dropFirst("CapEff:".count).trimmingCharacters(in: .whitespaces), radix: 16)
        else { return false }
        return mask & (1 << UInt64(bit)) != 0
    }

    public static let capNetAdmin = 12
    public static let capNetRaw = 13
}
