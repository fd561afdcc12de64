import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// One vnetd per data folder: an exclusive `flock` on `vnetd.lock` inside it, taken before
/// anything in the folder is touched (stale QEMU sockets are removed at start, so a second
/// vnetd would otherwise cut the running one's VMs off before failing) and held until stop.
/// The kernel drops the lock when the process ends, however it ends, so a crash never leaves
/// a stale lock behind. The file holds the holder's pid, for the message.
final class DataFolderLock: Sendable {
    private let descriptor: Int32

    private init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    static func acquire(_ directory: String) throws -> DataFolderLock {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw StartupError(description: "cannot create the data folder \(directory): \(error.localizedDescription)")
        }
        let path = (directory as NSString).appendingPathComponent("vnetd.lock")
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else {
            throw StartupError(description: "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let error = errno
            let holder = Self.readPID(fd)
            close(fd)
            if error == EWOULDBLOCK {
                throw StartupError(description: "another vnetd\(holder.map { " (pid \($0))" } ?? "") is already serving from the data folder \(directory); stop it first, or give this one another --data-dir")
            }
            throw StartupError(description: "cannot lock \(path): \(String(cString: strerror(error)))")
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        return DataFolderLock(descriptor: fd)
    }

    private static func readPID(_ fd: Int32) -> Int32? {
        var bytes = [UInt8](repeating: 0, count: 16)
        let count = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return nil }
        return Int32(String(decoding: bytes[0..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Lets the next vnetd in (a clean stop, or a start that failed).
    func release() {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
