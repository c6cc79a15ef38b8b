// The code of Documentation/Queues.md (see GettingStartedSamples.swift for how it is checked).
import Foundation
import JobKit
import LibPQ
import Logging

// MARK: Handlers

struct Thumbnail: JobHandler {
    struct Payload: Codable, Sendable {
        var imageID: UUID
        var width: Int
    }

    struct Output: Codable, Sendable {
        var path: String
    }

    static let type = "thumbnail"
    static let retryPolicy = RetryPolicy(maxAttempts: 8, initialDelay: .seconds(2), maximumDelay: .seconds(600))
    static let timeout: Duration? = .seconds(60)

    func run(_ payload: Payload, context: JobContext) async throws -> Output {
        try await context.progress(10, step: "download")
        let path = try await makeThumbnail(payload.imageID, width: payload.width)
        return Output(path: path)
    }
}

struct SendInvoice: JobHandler {
    struct Payload: Codable, Sendable {
        var invoiceID: Int
        var address: String
    }

    static let type = "send-invoice"
    static let retryPolicy = RetryPolicy(maxAttempts: 3)

    let mailer: Mailer  // a handler is a value: give it what it needs when you create it

    func run(_ payload: Payload, context: JobContext) async throws -> EmptyPayload {
        try await self.mailer.send(to: payload.address, subject: "Invoice \(payload.invoiceID)")
        return EmptyPayload()
    }
}

struct ImportFile: JobHandler {
    struct Payload: Codable, Sendable {
        var file: String
    }

    static let type = "import-file"

    func run(_ payload: Payload, context: JobContext) async throws -> EmptyPayload {
        for row in try await rows(of: payload.file) {
            try context.checkCancellation()  // cancellation, timeouts and shutdown all arrive this way
            try await importRow(row)
        }
        return EmptyPayload()
    }
}

struct ProcessDocument: JobHandler {
    struct Payload: Codable, Sendable {
        var documentID: UUID
    }

    static let type = "process-document"

    func run(_ payload: Payload, context: JobContext) async throws -> EmptyPayload {
        EmptyPayload()
    }
}

enum QueuesSamples {
    // MARK: Enqueue

    static func enqueueOne(jobs: JobService, imageID: UUID) async throws -> UUID {
        // Queue "default", priority 0, runs now, attempts and timeout from the handler.
        let id = try await jobs.enqueue(Thumbnail.self, .init(imageID: imageID, width: 320))
        return id
    }

    static func enqueueWithOptions(jobs: JobService, imageID: UUID) async throws -> UUID {
        let id = try await jobs.enqueue(
            Thumbnail.self,
            .init(imageID: imageID, width: 1024),
            options: JobOptions(
                queue: "images",
                priority: -10,
                runAt: Date().addingTimeInterval(60),
                reference: JobReference("image", imageID),
                uniqueKey: "thumbnail-1024-\(imageID)"))
        return id
    }

    static func enqueueDuplicate(jobs: JobService, imageID: UUID) async throws {
        do {
            try await jobs.enqueue(Thumbnail.self, .init(imageID: imageID, width: 1024), options: JobOptions(uniqueKey: "thumbnail-1024-\(imageID)"))
        } catch let error as JobError where error.code == .duplicate {
            // A job with this key exists (in any status, until retention deletes it).
        }
    }

    static func enqueueMany(jobs: JobService, imageIDs: [UUID]) async throws -> [UUID] {
        let ids = try await jobs.enqueueMany(Thumbnail.self, imageIDs.map { .init(imageID: $0, width: 320) })
        return ids
    }

    static func enqueueInTransaction(jobs: JobService, name: String) async throws -> UUID {
        let documentID = UUID()
        let jobID = try await jobs.pool.withTransaction { connection in
            try await connection.query("INSERT INTO documents (id, name) VALUES (\(documentID), \(name))")
            return try await jobs.enqueue(ProcessDocument.self, .init(documentID: documentID), on: connection)
        }
        return jobID
    }

    // MARK: Retries

    static func backoff() -> [Duration] {
        let policy = RetryPolicy(maxAttempts: 5, initialDelay: .seconds(1), maximumDelay: .seconds(60), jitter: 0)
        let waits = (1...4).map { policy.delay(afterAttempt: $0) }  // 1 s, 2 s, 4 s, 8 s
        return waits
    }

    // MARK: The executor

    static func makeService(pool: PostgresConnectionPool, logger: Logger) -> JobService {
        let jobs = JobService(
            pool: pool,
            configuration: .init(
                workerID: ProcessInfo.processInfo.environment["POD_NAME"] ?? JobService.Configuration.defaultWorkerID,
                leaseDuration: .seconds(60),
                heartbeatInterval: .seconds(15)),
            logger: logger)
        return jobs
    }

    static func makeExecutor(jobs: JobService, logger: Logger) -> JobExecutor {
        let executor = JobExecutor(
            service: jobs,
            handlers: [Thumbnail(), SendInvoice(mailer: mailer), ImportFile()],
            configuration: .init(
                queues: ["default", "images"],
                concurrency: 16,
                shutdownGracePeriod: .seconds(20)),
            logger: logger)
        return executor
    }
}
