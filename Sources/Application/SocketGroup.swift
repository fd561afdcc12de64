import Dataplane
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// The group that owns the QEMU sockets (mode 0660) and their folder (0750): QEMU running as
/// another user in that group (Debian's QEMU users are in `kvm`) can then attach.
///
/// Policy: the default group (`kvm`) missing is not an error, since many hosts run QEMU as the
/// same user as vnetd: the log says so once and the sockets keep vnetd's own group (still 0660).
/// A group the administrator named that does not exist stops the start: they asked for
/// something vnetd cannot do. vnetd changes a group only when it differs (under the unit it
/// runs with Group=kvm already, and its system call filter refuses chown).
enum SocketGroup {
    /// The group id to give the sockets, nil to leave them with the process's group.
    static func resolve(_ configuration: Configuration, logger: Logger) throws -> gid_t? {
        guard let name = configuration.socketGroup else { return nil }
        if let number = UInt32(name) { return gid_t(number) }
        var entry = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 16_384)
        let status = getgrnam_r(name, &entry, &buffer, buffer.count, &result)
        if status == 0, let result { return result.pointee.gr_gid }
        if configuration.socketGroupIsExplicit {
            throw StartupError(description: "the --socket-group \(name) does not exist; create it (groupadd \(name)) or name another group")
        }
        logger.notice("group \(name) does not exist: the QEMU sockets keep vnetd's group (\(getegid())), mode 0660; QEMU running as another user needs --socket-group")
        return nil
    }

    /// Makes the runtime folder and gives it to the group, rwx for vnetd, r-x for the group.
    /// Returns the group the sockets get: nil (vnetd's own) when the default group cannot be
    /// given because vnetd is not a member, which the log says; for a named group that is an error.
    static func prepare(runtimeDirectory: String, group: gid_t?, explicit: Bool, logger: Logger) throws -> gid_t? {
        do {
            try FileManager.default.createDirectory(atPath: runtimeDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        } catch {
            throw StartupError(description: "cannot create the runtime folder \(runtimeDirectory): \(error.localizedDescription)")
        }
        guard let group else { return nil }
        var status = stat()
        guard stat(runtimeDirectory, &status) == 0 else { return nil }
        if status.st_gid != group, chown(runtimeDirectory, uid_t.max, group) != 0 {
            let reason = String(cString: strerror(errno))
            if explicit {
                throw StartupError(description: "cannot give the runtime folder \(runtimeDirectory) to group \(group): \(reason) (vnetd must be a member of the group)")
            }
            logger.notice("the QEMU sockets keep vnetd's group: it is not a member of group \(group) (\(reason)); QEMU running as another user needs --socket-group")
            return nil
        }
        if status.st_mode & 0o7777 != 0o750 { _ = chmod(runtimeDirectory, 0o750) }
        return group
    }
}

extension Dataplane.Configuration {
    func withSocketGroup(_ group: gid_t?) -> Self {
        var configuration = self
        configuration.socketGroup = group.map { UInt32($0) }
        return configuration
    }
}
