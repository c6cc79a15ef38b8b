import ArgumentParser
import Foundation
import JobKit
import LibPQ
import Logging
import ServiceLifecycle

/// Runs a short function through the `tracked` decorator, then a long one with `runAsJob` that
/// reports progress and can be cancelled from another process with `jobkit cancel`.
@main
struct RunAsJobCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "RunAsJob",
        abstract: "Run async functions as tracked JobKit jobs; cancel the long one with `jobkit cancel`.",
        discussion: "Uses DATABASE_URL when set, else a private PostgreSQL cluster. Log entries go to standard error (LOG_LEVEL, default info).")

    @Option(help: "How many pages the long job renders.")
    var pages = 120

    @Option(help: "How long each page takes, in milliseconds.")
    var pageMilliseconds = 500

    func validate() throws {
        guard self.pages >= 1 else { throw ValidationError("--pages must be at least 1.") }
        guard self.pageMilliseconds >= 0 else { throw ValidationError("--page-milliseconds must not be negative.") }
    }

    func run() async throws {
        let level = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "example.run-as-job")

        try await ExampleDatabase.with(logger: logger) { database in
            let pool = PostgresConnectionPool(connection: PostgresConfiguration(database.url), logger: logger)
            let jobs = JobService(pool: pool, logger: logger)
            let walkthrough = Walkthrough(
                jobs: jobs, database: database, pages: self.pages, pageDuration: .milliseconds(self.pageMilliseconds))
            // The JobService listens for cancellation requests (LISTEN/NOTIFY), so a `jobkit cancel`
            // reaches the running job within milliseconds. The walkthrough ends the group when it is
            // done; SIGINT (Ctrl-C) or SIGTERM shut it down gracefully, which cancels the running job.
            let group = ServiceGroup(
                configuration: .init(
                    services: [
                        .init(service: jobs),
                        .init(service: walkthrough, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup),
                    ],
                    gracefulShutdownSignals: [.sigterm, .sigint],
                    logger: logger))
            do {
                try await jobs.migrate()
                try await group.run()
                await pool.close()
            } catch {
                await pool.close()
                throw error
            }
        }
    }
}
