import ArgumentParser
import Foundation
import JobKit
import LibPQ
import Logging
import ServiceLifecycle

/// Processes every file of a folder as a tracked job, a few at a time, with a progress bar and a
/// summary.
@main
struct BatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "Batch",
        abstract: "Count the lines and words of a folder's files as a batch of tracked JobKit jobs.",
        discussion: """
            Uses DATABASE_URL when set, else a private PostgreSQL cluster. Log entries go to standard error \
            (LOG_LEVEL, default info). Exits 1 when a file failed.
            """)

    @Argument(help: "The folder whose files to process. Without it, a sample folder is made and removed afterwards.")
    var folder: String?

    @Option(help: "The most files processed at once.")
    var concurrency = 4

    @Option(help: "Extra time each file takes, in milliseconds, so that the progress can be seen.")
    var workMilliseconds = 400

    func validate() throws {
        guard self.concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1.") }
        guard self.workMilliseconds >= 0 else { throw ValidationError("--work-milliseconds must not be negative.") }
    }

    func run() async throws {
        let level = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "example.batch")

        let sample = self.folder == nil ? try SampleFolder.create() : nil
        defer { sample?.remove() }
        let folder = sample?.url ?? URL(fileURLWithPath: self.folder ?? ".")
        let files = try FileInput.list(in: folder)
        guard !files.isEmpty else { throw ValidationError("\(folder.path) has no files to process.") }
        if let sample {
            Console.line("No folder given: made \(files.count) sample files in \(sample.url.path) (removed at the end).")
        }

        let failed = try await ExampleDatabase.with(logger: logger) { database in
            // One connection per running job, one for the notification listener, one to spare.
            let pool = PostgresConnectionPool(
                connection: PostgresConfiguration(database.url),
                configuration: .init(maximumConnections: self.concurrency + 2),
                logger: logger)
            let jobs = JobService(pool: pool, logger: logger)
            let batch = BatchRun(
                jobs: jobs, files: files, concurrency: self.concurrency, work: .milliseconds(self.workMilliseconds),
                isEmbeddedDatabase: database.isEmbedded)
            let group = ServiceGroup(
                configuration: .init(
                    services: [
                        .init(service: jobs),
                        .init(service: batch, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup),
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
            return batch.failedCount
        }
        if failed > 0 { throw ExitCode.failure }
    }
}
