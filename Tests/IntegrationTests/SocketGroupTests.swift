import Foundation
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// `--socket-group` on the real binary: QEMU running as another user attaches when that user is
/// in the group, and not otherwise. The group is `nogroup` (every Debian has it, root is not in
/// it); the other users are `nobody` (in it, as a QEMU user would be in kvm) and a user outside.
@Suite("QEMU sockets for another user, on the real binary", .serialized, .enabled(if: rootTestsRun, Comment(rawValue: needsRoot)))
struct SocketGroupTests {
    /// Connects to a unix stream socket (or sends to a datagram one); prints "ok" or the error.
    static let connect = """
        import socket, sys
        kind = socket.SOCK_DGRAM if sys.argv[1].endswith(".dgram") else socket.SOCK_STREAM
        s = socket.socket(socket.AF_UNIX, kind)
        try:
            s.connect(sys.argv[1]); print("ok")
        except OSError as e:
            print(e.strerror)
        """

    static func attach(_ path: String, as user: String, group: String) throws -> String {
        try run(["setpriv", "--reuid", user, "--regid", group, "--clear-groups", "/usr/bin/python3", "-c", connect, path], check: false)
            .output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func theSocketsAndTheirFolderBelongToTheGroupAndOnlyItsMembersAttach() throws {
        let binary = try #require(vnetdExecutable, "the vnetd executable is built by `swift build`")
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        // The test's folder must be passable for the other users; the data folder stays 0700.
        chmod(folder.path, 0o755)
        let data = folder.path + "/data", runtime = folder.path + "/run"
        try run([binary, "populate", "--data-dir", data, "--networks", "1", "--vms", "2"])
        let nogroup = try #require(getgrnam("nogroup")?.pointee.gr_gid)
        let vnetd = try VnetdProcess(data: data, logFile: folder.path + "/vnetd.log", arguments: ["--runtime-dir", runtime, "--socket-group", "nogroup"])
        let sockets = try FileManager.default.contentsOfDirectory(atPath: runtime).filter { $0.hasSuffix(".sock") || $0.hasSuffix(".dgram") }.sorted()
        #expect(sockets.count == 2, "\(sockets)")
        var status = stat()
        #expect(stat(runtime, &status) == 0 && status.st_gid == nogroup && status.st_mode & 0o777 == 0o750, "the folder is the group's, r-x")
        for socket in sockets {
            let path = runtime + "/" + socket
            #expect(stat(path, &status) == 0 && status.st_gid == nogroup && status.st_mode & 0o777 == 0o660, "\(socket): \(String(status.st_mode, radix: 8)) gid \(status.st_gid)")
            #expect(try Self.attach(path, as: "nobody", group: "nogroup") == "ok", "a member of the group attaches to \(socket)")
            #expect(try Self.attach(path, as: "nobody", group: "users") == "Permission denied", "someone outside it does not")
        }
        #expect(vnetd.stop() == "exit 0")

        // A group that does not exist, named on purpose, stops the start with one line.
        let refused = try run([binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", data, "--runtime-dir", runtime,
                               "--socket-group", "vnetd-no-such-group", "--templates", repositoryRoot + "/Templates", "--public", repositoryRoot + "/Public"],
                              check: false)
        #expect(refused.status == 1)
        #expect(refused.output.contains("the --socket-group vnetd-no-such-group does not exist"), "\(refused.output)")
    }
}
