import Domain

/// Who may use the site, and how sign-ins are kept and slowed down.
public struct AccessControl: Sendable {
    public var administrators: AdministratorService
    public var sessions: SessionRegistry
    public var throttle: SignInThrottle
    /// Set when the site is served over HTTPS: cookies get `Secure`.
    public var secureCookies: Bool
    /// Told the name of an administrator who changed their password on the site (vnetd removes
    /// the first password's file when it is `admin`'s).
    public var passwordChanged: @Sendable (String) -> Void

    public init(administrators: AdministratorService, sessions: SessionRegistry, throttle: SignInThrottle = SignInThrottle(), secureCookies: Bool,
                passwordChanged: @escaping @Sendable (String) -> Void = { _ in }) {
        self.passwordChanged = passwordChanged
        self.administrators = administrators
        self.sessions = sessions
        self.throttle = throttle
        self.secureCookies = secureCookies
    }

    /// Sessions that re-read their account from `administrators`.
    public static func sessions(for administrators: AdministratorService, policy: SessionPolicy = SessionPolicy()) -> SessionRegistry {
        SessionRegistry(policy: policy) { name in try? administrators.credential(of: name) }
    }
}
