// The code of Documentation/GettingStarted.md. Each ```swift block of the guide is a piece of
// this file (DocumentationSyncTests checks it); GettingStartedTests runs it.
import Foundation
import JobKit
import LibPQ
import Logging
import ServiceLifecycle

enum GettingStartedSamples {
    // MARK: Connect and migrate

    static func connect(databaseURL: String) async throws -> JobService {
        let pool = PostgresConnectionPool(connection: PostgresConfiguration(databaseURL))
        let jobs = JobService(pool: pool)
        try await jobs.migrate()
        return jobs
    }

    // MARK: A tracked job

    struct Resize: Codable, Sendable {
        var image: String
        var width: Int
    }

    struct Resized: Codable, Sendable {
        var path: String
    }

    static func firstTrackedJob(jobs: JobService) async throws -> Resized {
        let resized = try await jobs.runAsJob("resize", payload: Resize(image: "cat.png", width: 320)) { job in
            try await job.progress(50, step: "decoding")
            // … your work here …
            return Resized(path: "cat-320.png")
        }
        return resized
    }

    // MARK: A handler and a worker

    struct SendWelcomeEmail: JobHandler {
        struct Payload: Codable, Sendable {
            var address: String
        }

        static let type = "send-welcome-email"

        func run(_ payload: Payload, context: JobContext) async throws -> EmptyPayload {
            try await mailer.send(to: payload.address, subject: "Welcome")
            return EmptyPayload()
        }
    }

    static func enqueueWelcome(jobs: JobService) async throws -> UUID {
        let id = try await jobs.enqueue(SendWelcomeEmail.self, .init(address: "ada@example.com"))
        return id
    }

    static func runWorkers(jobs: JobService, logger: Logger) async throws {
        let executor = JobExecutor(service: jobs, handlers: [SendWelcomeEmail()])
        let group = ServiceGroup(services: [jobs, executor], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
    }
}
