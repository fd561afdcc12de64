import AdminSite
import Foundation
import Storage
import WebServer

/// Bearer tokens for `/metrics`: made here, shown once, kept as a SHA-256 in the store.
/// A token is 32 random bytes (getrandom), so a fast hash without salt is enough: nobody can
/// search 2^256 candidates, and checking one costs a scrape nothing.
public struct MetricsTokens: MetricsTokenVerifying {
    let store: SQLiteMetricsTokenStore

    public init(database: VnetdDatabase) {
        store = SQLiteMetricsTokenStore(database: database)
    }

    public struct InvalidName: Error, CustomStringConvertible {
        public var description: String { "a token name is 1 to 64 letters, digits, '.', '_' or '-'" }
    }

    /// Stores a new token under `name` and returns it (the only time it can be seen).
    public func add(name: String, now: Date = Date()) throws -> String {
        guard (1...64).contains(name.utf8.count), name.unicodeScalars.allSatisfy({ $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "._-".unicodeScalars.contains($0)) }) else {
            throw InvalidName()
        }
        let token = "vnetd_" + RandomToken.hex(bytes: 32)
        try store.add(name: name, hash: "sha256:" + SHA256.hex(Array(token.utf8)), at: now)
        return token
    }

    public func remove(name: String) throws { try store.remove(name: name) }

    public func list() throws -> [SQLiteMetricsTokenStore.Token] { try store.list() }

    public func tokenName(forHash hash: String) -> String? {
        (try? store.name(forHash: hash)) ?? nil
    }
}

extension ProcessFacts {
    /// This process's memory, open files and threads, from `/proc/self`.
    public static func current() -> ProcessFacts {
        let page = UInt64(sysconf(Int32(_SC_PAGESIZE)))
        let statm = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8))?.split(separator: " ").compactMap { UInt64($0) } ?? []
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let threads = status.split(separator: "\n").first { $0.hasPrefix("Threads:") }
            .flatMap { Int($0.dropFirst("Threads:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
        let files = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0
        return ProcessFacts(
            residentBytes: statm.count > 1 ? statm[1] * page : 0, virtualBytes: statm.first.map { $0 * page } ?? 0,
            openFiles: files, threads: threads)
    }
}
