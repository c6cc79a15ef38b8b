import EmbeddedPostgres
import Foundation
import Logging

/// The example's database: `DATABASE_URL` when it is set, else a private PostgreSQL cluster
/// started for this run from the installed server binaries and removed when the run ends.
struct ExampleDatabase: Sendable {
    /// The libpq URL to connect to.
    let url: String
    /// Whether this run started the cluster (and so its URL is worth printing).
    let isEmbedded: Bool

    /// Runs `body` with the database, then stops the embedded cluster if one was started, whether
    /// `body` returned or threw. `body` runs on the caller's actor (here the main actor of `main()`).
    static func with<Result: Sendable>(
        isolation: isolated (any Actor)? = #isolation,
        logger: Logger,
        _ body: (ExampleDatabase) async throws -> Result
    ) async throws -> Result {
        if let url = ProcessInfo.processInfo.environment["DATABASE_URL"], !url.isEmpty {
            logger.info("Using the database of DATABASE_URL")
            return try await body(ExampleDatabase(url: url, isEmbedded: false))
        }
        logger.info("DATABASE_URL is not set: starting a private PostgreSQL cluster")
        let postgres = try await EmbeddedPostgres.start(logger: logger)
        do {
            let result = try await body(ExampleDatabase(url: postgres.url, isEmbedded: true))
            try await postgres.shutdown()
            return result
        } catch {
            try? await postgres.shutdown()
            throw error
        }
    }
}
