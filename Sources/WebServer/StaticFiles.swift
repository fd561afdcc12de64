import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Serves files below one root folder, e.g. `Public/` under `/static/`.
///
/// Policy: the part of the path after the prefix is checked segment by segment. Empty segments,
/// `.` and `..`, names starting with a dot, backslashes and NUL bytes are refused; then the
/// resolved real path must still lie inside the resolved root, so a symbolic link that points
/// out of the root is refused too. Every refusal is a 404, the same answer as a missing file,
/// so a probe learns nothing. Responses carry an `ETag` built from size and modification time
/// and answer 304 to a matching `If-None-Match`.
public struct StaticFiles: Sendable {
    public let root: String
    private let cache = FileCache()
    public let prefix: String
    public let cacheControl: String
    private let errorPages: any ErrorPageRendering
    /// Files larger than this are not served (the folder holds small assets).
    public let maximumFileSize: Int

    /// - Parameters:
    ///   - root: the folder to serve; it is resolved once, here.
    ///   - prefix: the URL prefix, ending in `/`.
    public init(
        root: String,
        prefix: String = "/static/",
        cacheControl: String = "no-cache",
        maximumFileSize: Int = 8 << 20,
        errorPages: any ErrorPageRendering = PlainErrorPages()
    ) {
        self.root = StaticFiles.realPath(root) ?? root
        self.prefix = prefix
        self.cacheControl = cacheControl
        self.maximumFileSize = maximumFileSize
        self.errorPages = errorPages
    }

    public func respond(to request: Request) -> Response {
        // Fast path: a file served before, unchanged since (same inode, size and time), is answered
        // from memory after one stat. Any change, or a file replaced by a link, falls through to
        // the full checks below.
        if let cached = cache.lookup(request.path) {
            var info = stat()
            if lstat(cached.realPath, &info) == 0, FileCache.Identity(info) == cached.identity {
                return answer(request, etag: cached.etag, contentType: cached.contentType, content: cached.content)
            }
        }
        guard let path = resolve(urlPath: request.path) else {
            return errorPages.errorPage(status: 404, message: "There is no file at this address.", for: request)
        }
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, Int(info.st_size) <= maximumFileSize else {
            return errorPages.errorPage(status: 404, message: "There is no file at this address.", for: request)
        }
        let modified = Int(info.st_mtim.tv_sec) * 1_000_000_000 + Int(info.st_mtim.tv_nsec)
        let etag = "\"\(String(Int(info.st_size), radix: 16))-\(String(modified, radix: 16))\""
        guard let content = Self.read(path, size: Int(info.st_size)) else {
            return errorPages.errorPage(status: 404, message: "There is no file at this address.", for: request)
        }
        let contentType = MediaType.forFile(path)
        cache.store(request.path, FileCache.Entry(
            realPath: path, identity: FileCache.Identity(info), etag: etag, contentType: contentType, content: content))
        return answer(request, etag: etag, contentType: contentType, content: content)
    }

    private func answer(_ request: Request, etag: String, contentType: String, content: [UInt8]) -> Response {
        let common: [(name: String, value: String)] = [("ETag", etag), ("Cache-Control", cacheControl)]
        if let candidates = request.header("If-None-Match"),
            candidates.split(separator: ",").contains(where: { $0.trimmingSpaces == etag || $0.trimmingSpaces == "*" })
        {
            return Response(status: 304, headers: common)
        }
        return Response(status: 200, headers: [("Content-Type", contentType)] + common, body: content)
    }

    /// The real file path for a URL path, or nil when the URL path is not a safe path inside the root.
    func resolve(urlPath: String) -> String? {
        guard urlPath.hasPrefix(prefix) else { return nil }
        let relative = urlPath.dropFirst(prefix.count)
        let segments = relative.split(separator: "/", omittingEmptySubsequences: false)
        guard !segments.isEmpty else { return nil }
        for segment in segments {
            guard !segment.isEmpty, !segment.hasPrefix("."), !segment.contains("\\"), !segment.contains("\0")
            else { return nil }
        }
        let candidate = root + "/" + segments.joined(separator: "/")
        guard let real = Self.realPath(candidate), real.hasPrefix(root + "/") else { return nil }
        return real
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    static func read(_ path: String, size: Int) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var content = [UInt8](repeating: 0, count: size)
        var offset = 0
        while offset < size {
            let count = content.withUnsafeMutableBytes { buffer in
                Glibc.read(fd, buffer.baseAddress! + offset, size - offset)
            }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return nil }
            offset += count
        }
        return content
    }
}

/// Files already resolved and read, by URL path. Bounded: the folder holds a few assets.
final class FileCache: Sendable {
    struct Identity: Equatable {
        let device: UInt64
        let inode: UInt64
        let size: Int
        let modified: Int

        init(_ info: stat) {
            device = UInt64(info.st_dev)
            inode = UInt64(info.st_ino)
            size = Int(info.st_size)
            modified = Int(info.st_mtim.tv_sec) * 1_000_000_000 + Int(info.st_mtim.tv_nsec)
        }
    }

    struct Entry {
        let realPath: String
        let identity: Identity
        let etag: String
        let contentType: String
        let content: [UInt8]
    }

    private let entries = Mutex<[String: Entry]>([:])
    static let capacity = 512

    func lookup(_ urlPath: String) -> Entry? {
        entries.withLock { $0[urlPath] }
    }

    func store(_ urlPath: String, _ entry: Entry) {
        entries.withLock { entries in
            if entries.count >= Self.capacity { entries.removeAll(keepingCapacity: true) }
            entries[urlPath] = entry
        }
    }
}

extension Substring {
    var trimmingSpaces: Substring {
        var result = self
        while result.first == " " { result.removeFirst() }
        while result.last == " " { result.removeLast() }
        return result
    }
}

public enum MediaType {
    public static func forFile(_ path: String) -> String {
        let ext = path.split(separator: ".").last.map { $0.lowercased() } ?? ""
        switch ext {
        case "css": return "text/css; charset=utf-8"
        case "js", "mjs": return "text/javascript; charset=utf-8"
        case "html", "htm": return "text/html; charset=utf-8"
        case "txt": return "text/plain; charset=utf-8"
        case "svg": return "image/svg+xml"
        case "png": return "image/png"
        case "jpg", "jpeg": return "image/jpeg"
        case "gif": return "image/gif"
        case "ico": return "image/x-icon"
        case "webp": return "image/webp"
        case "woff2": return "font/woff2"
        case "woff": return "font/woff"
        case "json": return "application/json"
        case "xml": return "application/xml"
        default: return "application/octet-stream"
        }
    }
}
