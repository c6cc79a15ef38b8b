import ArgumentParser
import Foundation
import JobKit
import LibPQ

/// Where the database is: `--database-url`, else `DATABASE_URL`, else libpq's `PG*` variables.
struct ConnectionOptions: ParsableArguments {
    @Option(help: "A PostgreSQL URL or libpq conninfo string. Defaults to DATABASE_URL, then the PG* variables.")
    var databaseURL: String?

    @Option(help: "The schema JobKit's tables live in.")
    var schema: String = "jobkit"

    var postgres: PostgresConfiguration {
        self.databaseURL.map { PostgresConfiguration($0) } ?? .environment(ProcessInfo.processInfo.environment)
    }

    /// Runs `body` with a service over a small pool, and closes the pool afterwards.
    func withService<Result>(_ body: (JobService) async throws -> Result) async throws -> Result {
        let pool = PostgresConnectionPool(connection: self.postgres, configuration: .init(maximumConnections: 4))
        do {
            let result = try await body(JobService(pool: pool, configuration: .init(schema: self.schema)))
            await pool.close()
            return result
        } catch {
            await pool.close()
            throw CommandFailure(error)
        }
    }
}

/// An error shown as one line: the message of a JobKit or PostgreSQL error, never a trace.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String

    init(_ error: any Error) {
        switch error {
        case let error as PostgresError:
            self.description = error.sqlState.map { "\(error.message) (SQLSTATE \($0.rawValue))" } ?? error.message
        case let error as CommandFailure:
            self.description = error.description
        default:
            self.description = "\(error)"
        }
    }
}

extension UUID: @retroactive ExpressibleByArgument {
    public init?(argument: String) {
        self.init(uuidString: argument)
    }
}
