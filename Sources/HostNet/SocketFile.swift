import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The files of vnetd's unix sockets (QEMU's stream, datagram and vhost-user sockets).
public enum SocketFile {
    /// Gives the socket file at `path` to `group` (its mode, 0660, lets that group connect);
    /// nothing is changed when it has that group already, so no chown is made then.
    public static func give(_ path: String, toGroup group: UInt32) throws(SystemError) {
        var status = stat()
        try Syscall.check("stat \(path)") { Int(stat(path, &status)) }
        guard status.st_gid != group else { return }
        try Syscall.check("chown \(path)") { Int(chown(path, uid_t.max, gid_t(group))) }
    }
}
