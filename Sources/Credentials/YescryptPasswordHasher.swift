import CCrypt
import Domain

/// Password hashes from libxcrypt's yescrypt, the scheme Debian uses for /etc/shadow.
public struct YescryptPasswordHasher: PasswordHashing {
    public struct HashingError: Error, CustomStringConvertible {
        public var description: String { "libxcrypt could not hash the password (no entropy or no memory)" }
    }

    public init() {}

    public func hash(_ password: String) throws -> String {
        var output = [CChar](repeating: 0, count: Int(VNETD_PASSWORD_HASH_SIZE))
        let status = vnetd_password_hash(password, &output)
        guard status == 0 else { throw HashingError() }
        return String(decoding: output.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public func verify(_ password: String, against hash: String) -> Bool {
        guard !password.utf8.contains(0) else { return false }
        return vnetd_password_verify(password, hash) == 1
    }
}
