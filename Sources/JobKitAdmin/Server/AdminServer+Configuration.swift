import Foundation

extension AdminServer {
    /// Where the admin server listens and how it authenticates callers.
    ///
    /// Every parameter of ``init(host:port:token:allowsUnauthenticatedLoopback:sessionLifetime:pageRefreshInterval:)``
    /// has a default, so `.init()` is a valid value; ``AdminServer/init(jobs:configuration:logger:onServerRunning:)``
    /// validates it, once, and throws ``AdminServerError`` when it cannot be served.
    public struct Configuration: Sendable {
        /// The name of the environment variable ``environment(_:host:port:token:allowsUnauthenticatedLoopback:)``
        /// reads the token from: `JOBKIT_ADMIN_TOKEN`.
        public static let tokenVariable = "JOBKIT_ADMIN_TOKEN"

        /// The address to bind. Defaults to `"127.0.0.1"` (loopback only).
        public var host: String
        /// The TCP port. Defaults to 8080; 0 asks the system for a free port, which the server
        /// reports through its `onServerRunning` callback. Must be within 0...65535.
        public var port: Int
        /// The bearer token every request must carry (`Authorization: Bearer <token>`, or the
        /// session cookie the login page sets). Defaults to `nil`: no token, which the server
        /// refuses unless ``allowsUnauthenticatedLoopback`` is set and ``host`` is a loopback address.
        public var token: String?
        /// Whether the server may run without a token. Defaults to `false`. Only honoured when
        /// ``token`` is `nil` and ``host`` is a loopback address (`127.0.0.0/8`, `::1`,
        /// `localhost`); a token, when given, is always required.
        public var allowsUnauthenticatedLoopback: Bool
        /// How long a browser session from the login page lasts. Defaults to 12 hours.
        public var sessionLifetime: Duration
        /// How often the web page reloads itself. Defaults to 5 seconds; `.zero` turns reloading off.
        public var pageRefreshInterval: Duration

        /// Creates a configuration; every parameter has a default.
        /// - Parameters:
        ///   - host: The address to bind. Defaults to `"127.0.0.1"`.
        ///   - port: The TCP port; 0 for any free port. Defaults to 8080.
        ///   - token: The bearer token. Defaults to `nil` (none).
        ///   - allowsUnauthenticatedLoopback: Whether to serve without a token on loopback. Defaults to `false`.
        ///   - sessionLifetime: How long a browser session lasts. Defaults to 12 hours.
        ///   - pageRefreshInterval: How often the web page reloads itself; `.zero` for never. Defaults to 5 seconds.
        public init(
            host: String = "127.0.0.1",
            port: Int = 8080,
            token: String? = nil,
            allowsUnauthenticatedLoopback: Bool = false,
            sessionLifetime: Duration = .seconds(12 * 3600),
            pageRefreshInterval: Duration = .seconds(5)
        ) {
            self.host = host
            self.port = port
            self.token = token
            self.allowsUnauthenticatedLoopback = allowsUnauthenticatedLoopback
            self.sessionLifetime = sessionLifetime
            self.pageRefreshInterval = pageRefreshInterval
        }

        /// A configuration whose token comes from `JOBKIT_ADMIN_TOKEN` in `environment`, unless
        /// `token` is given.
        ///
        /// Read the process environment at the edge and pass it in:
        /// ```swift
        /// let configuration = AdminServer.Configuration.environment(ProcessInfo.processInfo.environment, port: 9090)
        /// ```
        /// - Parameters:
        ///   - environment: The variables to read, such as `ProcessInfo.processInfo.environment`.
        ///   - host: The address to bind. Defaults to `"127.0.0.1"`.
        ///   - port: The TCP port; 0 for any free port. Defaults to 8080.
        ///   - token: A token that wins over the variable (a command-line flag). Defaults to `nil`.
        ///   - allowsUnauthenticatedLoopback: Whether to serve without a token on loopback. Defaults to `false`.
        /// - Returns: The configuration; the variable's value is trimmed of white space, and an
        ///   empty value counts as no token.
        public static func environment(
            _ environment: [String: String],
            host: String = "127.0.0.1",
            port: Int = 8080,
            token: String? = nil,
            allowsUnauthenticatedLoopback: Bool = false
        ) -> Configuration {
            let fromEnvironment = environment[Self.tokenVariable]?.trimmingCharacters(in: .whitespacesAndNewlines)
            let chosen = token ?? fromEnvironment
            return Configuration(
                host: host,
                port: port,
                token: chosen.flatMap { $0.isEmpty ? nil : $0 },
                allowsUnauthenticatedLoopback: allowsUnauthenticatedLoopback
            )
        }

        /// Whether ``host`` names this machine only.
        public var isLoopback: Bool {
            let host = self.host.lowercased()
            if host == "localhost" || host == "::1" || host == "[::1]" { return true }
            let octets = host.split(separator: ".", omittingEmptySubsequences: false)
            guard octets.count == 4, octets[0] == "127" else { return false }
            return octets.allSatisfy { UInt8($0) != nil }
        }

        /// The token that requests must carry, or `nil` when the server serves without one.
        /// - Throws: ``AdminServerError`` `.invalidPort`, `.invalidHost`, `.invalidSetting`,
        ///   `.missingToken`, `.unauthenticatedNonLoopback`.
        func validatedToken() throws(AdminServerError) -> String? {
            guard (0...65535).contains(self.port) else { throw .invalidPort(self.port) }
            guard !self.host.trimmingCharacters(in: .whitespaces).isEmpty else { throw .invalidHost() }
            guard self.sessionLifetime > .zero else { throw .invalidSetting("sessionLifetime must be positive") }
            guard self.pageRefreshInterval >= .zero else { throw .invalidSetting("pageRefreshInterval must not be negative") }
            if let token = self.token, !token.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                return token
            }
            guard self.allowsUnauthenticatedLoopback else { throw .missingToken() }
            guard self.isLoopback else { throw .unauthenticatedNonLoopback(host: self.host) }
            return nil
        }
    }
}
