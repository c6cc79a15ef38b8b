import ArgumentParser
import Foundation
import JobKit
import LibPQ
import Logging

/// Where the database is: `--database-url`, else `DATABASE_URL`, else libpq's `PG*` variables.
struct ConnectionOptions: ParsableArguments {
    @Option(help: "A PostgreSQL URL or libpq conninfo string. Defaults to DATABASE_URL, then the PG* variables.")
    var databaseURL: String?

    @Option(help: "The schema JobKit's tables live in: lower-case letters, digits and _.")
    var schema: String = "jobkit"

    func validate() throws {
        // JobService takes only plain identifiers (it splices the name into SQL) and traps on others.
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789_")
        guard let first = self.schema.first, !first.isNumber, self.schema.count <= 48, self.schema.allSatisfy(allowed.contains) else {
            throw ValidationError("The schema must be a lower-case identifier of at most 48 characters, not '\(self.schema)'.")
        }
    }

    var postgres: PostgresConfiguration {
        self.databaseURL.map { PostgresConfiguration($0) } ?? .environment(ProcessInfo.processInfo.environment)
    }

    /// Runs `body` with a service over a small pool, and closes the pool afterwards.
    /// - Parameters:
    ///   - connections: The pool's size. Defaults to 4.
    ///   - logger: The service's logger. Defaults to none.
    ///   - body: The work.
    func withService<Result>(
        connections: Int = 4,
        logger: Logger = JobKitLogging.noop,
        _ body: (JobService) async throws -> Result
    ) async throws -> Result {
        let pool = PostgresConnectionPool(connection: self.postgres, configuration: .init(maximumConnections: connections), logger: logger)
        do {
            let result = try await body(JobService(pool: pool, configuration: .init(schema: self.schema), logger: logger))
            await pool.close()
            return result
        } catch {
            await pool.close()
            throw error
        }
    }
}

/// Who does an operator action, kept in the job's history.
struct ActorOptions: ParsableArguments {
    @Option(help: "Who is acting, kept in the job's history. Defaults to cli:$USER.")
    var actor: String?

    var name: String {
        self.actor ?? ProcessInfo.processInfo.environment["USER"].map { "cli:\($0)" } ?? "cli"
    }
}
