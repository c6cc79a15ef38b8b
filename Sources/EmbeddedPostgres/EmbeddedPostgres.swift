import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A private, throwaway PostgreSQL cluster made from the installed server binaries.
///
/// Each cluster lives in a new temporary folder, listens on its own port on 127.0.0.1 (and
/// on a unix socket in that folder) and trusts every local connection as `postgres`. Tests use
/// it, and so does `jobkit demo` when no `DATABASE_URL` is given.
///
/// ```swift
/// let postgres = try await EmbeddedPostgres.start(configuration: .init(settings: ["fsync": "off"]))
/// // Connect to postgres.url: postgresql://postgres@127.0.0.1:<port>/postgres
/// try await postgres.shutdown()
/// ```
///
/// > Important: Call ``shutdown()`` when done. If the process ends without it (a crash, SIGKILL,
/// > an interrupted test run) a watchdog process stops the server and removes the folder within
/// > about a second.
///
/// When the process runs as root, the PostgreSQL programs run as the `postgres` account
/// through `runuser`, since PostgreSQL refuses to run as root.
public final class EmbeddedPostgres: Sendable {
    private let cluster: Cluster
    private let lifecycle: ServerLifecycle

    /// The TCP port the server listens on, on 127.0.0.1.
    public var port: Int {
        self.cluster.port
    }

    /// The cluster's data folder (`PGDATA`), inside the cluster's temporary folder.
    public var dataDirectory: String {
        self.cluster.dataDirectory
    }

    /// The URL of the `postgres` database: `postgresql://postgres@127.0.0.1:<port>/postgres`.
    public var url: String {
        self.url(database: "postgres")
    }

    private init(cluster: Cluster) {
        self.cluster = cluster
        self.lifecycle = ServerLifecycle(cluster: cluster)
    }

    // MARK: Starting

    /// Creates a fresh cluster in a new temporary folder, starts its server and waits until it
    /// accepts connections.
    ///
    /// Launches the cleanup watchdog, runs `initdb --auth=trust -U postgres --encoding=UTF8
    /// --locale=C`, then `pg_ctl start -w` with the server listening on 127.0.0.1 at the
    /// configured or a free port, and checks the port accepts a TCP connection. On any failure,
    /// what was made is removed again. Several clusters, in one process or many, may start at once.
    ///
    /// - Parameters:
    ///   - configuration: Where the binaries are, the port, server settings and timeout.
    ///     Defaults to `.init()`: search for the binaries, pick a free port.
    ///   - logger: Receives lifecycle events at `debug` and tool command lines at `trace`.
    ///     Defaults to a logger that discards everything.
    /// - Returns: The running cluster.
    /// - Throws: ``EmbeddedPostgresError`` with code ``EmbeddedPostgresError/Code/binariesNotFound``
    ///   (with how to install them), ``EmbeddedPostgresError/Code/initdbFailed``,
    ///   ``EmbeddedPostgresError/Code/startFailed`` (with the server log),
    ///   ``EmbeddedPostgresError/Code/noFreePort`` or ``EmbeddedPostgresError/Code/processFailed``;
    ///   `CancellationError` when the task is cancelled between steps.
    public static func start(
        configuration: Configuration = .init(),
        logger: Logger = Logger(label: "jobkit.embedded-postgres", factory: { _ in SwiftLogNoOpLogHandler() })
    ) async throws -> EmbeddedPostgres {
        let account = try ServerAccount.current()
        let folder = try Cluster.makeFolder(for: account)
        let binaries: PostgresBinaries
        do {
            binaries = try await PostgresBinaries.locate(configured: configuration.binDirectory, scratchFolder: folder)
        } catch {
            try? FileManager.default.removeItem(atPath: folder)
            throw error
        }

        var cluster = Cluster(
            folder: folder,
            binaries: binaries,
            account: account,
            port: configuration.port ?? 0,
            configuration: configuration,
            logger: logger
        )
        do {
            try await Watchdog.launch(watching: getpid(), cluster: cluster)
            try Task.checkCancellation()
            try await cluster.initialize()
            try Task.checkCancellation()
            cluster.port = try await Self.startOnFreePort(cluster)
            return EmbeddedPostgres(cluster: cluster)
        } catch {
            await cluster.discard()
            throw error
        }
    }

    /// Starts the server; when the port was left to us and another process took it first,
    /// picks another.
    ///
    /// - Returns: The port the server listens on.
    private static func startOnFreePort(_ cluster: Cluster) async throws -> Int {
        guard cluster.configuration.port == nil else {
            try await cluster.startServer()
            return cluster.port
        }
        let attempts = 5
        var cluster = cluster
        var lastLog = ""
        for _ in 1...attempts {
            cluster.port = try LoopbackPort.pickFree()
            let logOffset = OutputFile.size(of: cluster.serverLogPath)
            do {
                try await cluster.startServer()
                return cluster.port
            } catch let error as EmbeddedPostgresError where error.code == .startFailed {
                lastLog = cluster.serverLog(since: logOffset)
                guard lastLog.contains("could not bind") || lastLog.contains("already in use") else {
                    throw error
                }
                cluster.logger.debug(
                    "Embedded PostgreSQL port taken, picking another",
                    metadata: ["jobkit.embedded-postgres.port": "\(cluster.port)"]
                )
            }
        }
        throw EmbeddedPostgresError.noFreePort(
            "every port picked on 127.0.0.1 was taken by another process before the server could bind it "
                + "(\(attempts) attempts).\n--- server log (last lines) ---\n\(lastLog)"
        )
    }

    // MARK: URLs

    /// The URL of a database on this cluster, as user `postgres` over TCP.
    ///
    /// - Parameters:
    ///   - database: The database name; it is percent-encoded.
    /// - Returns: `postgresql://postgres@127.0.0.1:<port>/<database>`.
    public func url(database: String) -> String {
        let unreserved = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
        let encoded = database.addingPercentEncoding(withAllowedCharacters: unreserved) ?? database
        return "postgresql://postgres@127.0.0.1:\(self.port)/\(encoded)"
    }

    // MARK: Lifecycle

    /// Stops the server (fast shutdown: clients are disconnected, data is checkpointed) and keeps
    /// the data, for tests that take the server down. Does nothing if it is already stopped.
    ///
    /// - Throws: ``EmbeddedPostgresError`` with code ``EmbeddedPostgresError/Code/stopFailed``
    ///   if pg_ctl fails or the cluster was shut down, or
    ///   ``EmbeddedPostgresError/Code/processFailed`` if pg_ctl cannot be launched.
    public func stopServer() async throws {
        try await self.lifecycle.stopServer()
    }

    /// Starts the server again on the same port and data folder and waits until it accepts
    /// connections. Does nothing if it is already running.
    ///
    /// - Throws: ``EmbeddedPostgresError`` with code ``EmbeddedPostgresError/Code/startFailed``
    ///   (with the server log) if it does not start in time or the cluster was shut down, or
    ///   ``EmbeddedPostgresError/Code/processFailed`` if pg_ctl cannot be launched.
    public func startServer() async throws {
        try await self.lifecycle.startServer()
    }

    /// Stops the server, then starts it again: ``stopServer()`` then ``startServer()``.
    ///
    /// - Throws: What ``stopServer()`` or ``startServer()`` throws.
    public func restart() async throws {
        try await self.lifecycle.stopServer()
        try await self.lifecycle.startServer()
    }

    /// Stops the server and removes its folder, data included. Calling it again does nothing.
    ///
    /// Tries a fast shutdown first, then an immediate one; the folder is removed either way and
    /// the watchdog is ended.
    ///
    /// - Throws: ``EmbeddedPostgresError`` with code ``EmbeddedPostgresError/Code/stopFailed``
    ///   if the server could not be stopped or the folder could not be removed.
    public func shutdown() async throws {
        try await self.lifecycle.shutdown()
    }

    // MARK: Package internals

    /// Launches one more watchdog for this cluster, watching another process: when that process
    /// dies, the watchdog stops the server and removes the folder. Lets tests check the watchdog
    /// without killing the test process.
    ///
    /// - Parameters:
    ///   - processID: The process to watch.
    /// - Throws: ``EmbeddedPostgresError/Code/processFailed`` if the watchdog cannot be launched.
    package func launchWatchdog(watching processID: Int32) async throws {
        try await Watchdog.launch(watching: processID, cluster: self.cluster)
    }
}
