extension EmbeddedPostgres {
    /// How ``EmbeddedPostgres/start(configuration:logger:)`` finds PostgreSQL and runs the server.
    public struct Configuration: Sendable {
        /// The folder holding `initdb`, `pg_ctl` and `postgres`.
        ///
        /// `nil` searches: `pg_config --bindir` first, then `/usr/lib/postgresql/*/bin`
        /// (highest version first), then the folders on `PATH`. Defaults to `nil`.
        public var binDirectory: String?

        /// The TCP port the server listens on, on 127.0.0.1 only.
        ///
        /// `nil` picks a free port (binds port 0, reads the port back, closes) and picks again
        /// if another process takes it first. Defaults to `nil`.
        public var port: Int?

        /// Extra server settings, passed to the server as `-c name=value`.
        ///
        /// For example `["fsync": "off"]` for tests. The settings this type manages
        /// (`listen_addresses`, `port`, `unix_socket_directories`, `max_connections`) win over
        /// entries here. Defaults to empty: durable settings stay on.
        public var settings: [String: String]

        /// The server's `max_connections`. Must be at least 1. Defaults to 200.
        public var maxConnections: Int

        /// How long to wait for the server to accept connections after a start, and for it to
        /// exit after a stop. Rounded up to whole seconds. Defaults to 30 seconds.
        public var startTimeout: Duration

        /// Creates a configuration; `.init()` searches for the binaries and picks a free port.
        ///
        /// - Parameters:
        ///   - binDirectory: The folder holding `initdb`, `pg_ctl` and `postgres`; `nil` searches.
        ///     Defaults to `nil`.
        ///   - port: The TCP port on 127.0.0.1, in 1...65535; `nil` picks a free one. Defaults to `nil`.
        ///   - settings: Extra server settings (`-c name=value`). Defaults to empty.
        ///   - maxConnections: The server's `max_connections`, at least 1. Defaults to 200.
        ///   - startTimeout: How long to wait for the server to start or stop; positive.
        ///     Defaults to 30 seconds.
        public init(
            binDirectory: String? = nil,
            port: Int? = nil,
            settings: [String: String] = [:],
            maxConnections: Int = 200,
            startTimeout: Duration = .seconds(30)
        ) {
            if let port {
                precondition((1...65535).contains(port), "EmbeddedPostgres port must be in 1...65535, got \(port)")
            }
            precondition(maxConnections >= 1, "EmbeddedPostgres maxConnections must be at least 1, got \(maxConnections)")
            precondition(startTimeout > .zero, "EmbeddedPostgres startTimeout must be positive, got \(startTimeout)")
            self.binDirectory = binDirectory
            self.port = port
            self.settings = settings
            self.maxConnections = maxConnections
            self.startTimeout = startTimeout
        }
    }
}

extension Duration {
    /// This duration in whole seconds, rounded up, at least 1: the unit of `pg_ctl -t`.
    var wholeSecondsRoundedUp: Int {
        let (seconds, attoseconds) = self.components
        let rounded = attoseconds > 0 ? seconds + 1 : seconds
        return Int(max(1, rounded))
    }
}
