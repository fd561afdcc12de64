import CNftables
import Foundation

/// libnftables, for vnetd's own table only (`NATRuleset`). Calls are serialised; each is a few
/// netlink round trips, so callers keep them off the data path's thread.
public final class Nftables: @unchecked Sendable {
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    private let context: OpaquePointer
    private let lock = NSLock()

    public init?() {
        guard let context = nft_ctx_new(UInt32(NFT_CTX_DEFAULT)) else { return nil }
        nft_ctx_buffer_output(context)
        nft_ctx_buffer_error(context)
        self.context = context
    }

    deinit { nft_ctx_free(context) }

    /// Runs commands as one transaction; returns their output.
    @discardableResult
    public func run(_ commands: String) throws(Failure) -> String {
        lock.lock()
        defer { lock.unlock() }
        let status = nft_run_cmd_from_buffer(context, commands)
        let output = nft_ctx_get_output_buffer(context).map { String(cString: $0) } ?? ""
        let error = nft_ctx_get_error_buffer(context).map { String(cString: $0) } ?? ""
        guard status == 0 else {
            throw Failure(message: error.isEmpty ? "nftables refused the commands (status \(status))" : error.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return output
    }

    /// The table as the kernel has it now; nil when there is none (or it cannot be read).
    public func listTable() -> String? {
        try? run("list table \(NATRuleset.family) \(NATRuleset.table)")
    }

    public func counters() -> [String: NATRuleset.Counter] {
        guard let listing = try? run("list counters table \(NATRuleset.family) \(NATRuleset.table)") else { return [:] }
        return NATRuleset.parseCounters(listing)
    }
}
