import EmbeddedPostgres
import Foundation
import LibPQ
import Synchronization

/// PostgreSQL for tests: a fresh database per suite, on the server `DATABASE_URL` names or,
/// without it, on a private cluster started once per test process.
///
/// There is no silent skip: without a server and without PostgreSQL's binaries, the call
/// throws an error that says how to get one.
public enum TestPostgres {
    private static let sharedCluster = Mutex<Task<EmbeddedPostgres, any Error>?>(nil)

    /// The server tests use: `DATABASE_URL`'s, or the shared embedded cluster's.
    /// - Returns: A libpq connection URL of the server.
    /// - Throws: ``TestPostgresError`` when no server can be had.
    public static func serverURL() async throws -> String {
        if let url = ProcessInfo.processInfo.environment["DATABASE_URL"], !url.isEmpty {
            return url
        }
        let task = self.sharedCluster.withLock { task in
            if let task { return task }
            let started = Task {
                // Durability buys tests nothing and costs them seconds.
                try await EmbeddedPostgres.start(configuration: .init(
                    settings: ["fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"],
                    maxConnections: 1000))
            }
            task = started
            return started
        }
        do {
            return try await task.value.url
        } catch {
            throw TestPostgresError(message: """
                No PostgreSQL server for the tests: \(error). \
                Install PostgreSQL (`apt-get install postgresql libpq-dev`) so the tests can start \
                a private cluster, or set DATABASE_URL to a server where they may create databases.
                """)
        }
    }

    /// Creates an empty database with a unique name and returns its configuration.
    /// - Parameter prefix: A readable part of the name, such as the suite's.
    /// - Returns: A configuration whose connections go to the new database.
    /// - Throws: ``TestPostgresError`` when no server can be had; ``PostgresError`` from `CREATE DATABASE`.
    public static func makeDatabase(prefix: String = "test") async throws -> PostgresConfiguration {
        let server = try await self.serverURL()
        let cleanPrefix = prefix.lowercased().filter { $0.isLetter || $0.isNumber || $0 == "_" }
        let name = "jk_\(cleanPrefix.prefix(30))_\(UUID().uuidString.prefix(8).lowercased())"
        let admin = try await PostgresConnection.connect(to: PostgresConfiguration(server))
        try await admin.query("CREATE DATABASE \(unescaped: name)")
        await admin.close()
        return PostgresConfiguration(self.replacingDatabase(in: server, with: name))
    }

    /// Starts a cluster of its own, for tests that stop or restart the server.
    /// - Returns: The running cluster; call `shutdown()` when done.
    /// - Throws: `EmbeddedPostgresError` when the cluster cannot start.
    public static func privateCluster() async throws -> EmbeddedPostgres {
        try await EmbeddedPostgres.start(configuration: .init(settings: ["fsync": "off", "synchronous_commit": "off"]))
    }

    /// The URL or conninfo string with its database name replaced.
    static func replacingDatabase(in server: String, with database: String) -> String {
        if server.hasPrefix("postgres://") || server.hasPrefix("postgresql://") {
            guard var components = URLComponents(string: server) else { return server }
            components.path = "/" + database
            return components.string ?? server
        }
        // key=value form: a later dbname wins in libpq.
        return server + " dbname=\(database)"
    }
}

/// No PostgreSQL server could be had for a test.
public struct TestPostgresError: Error, CustomStringConvertible {
    /// What went wrong and how to fix it.
    public var message: String
    /// The ``message``.
    public var description: String { self.message }
}
