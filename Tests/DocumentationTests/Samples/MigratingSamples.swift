// The code of Documentation/Migrating.md (see GettingStartedSamples.swift for how it is checked).
import Foundation
import JobKit

struct ExportRequest: Codable, Sendable {
    var accountID: Int
}

struct ExportResult: Codable, Sendable {
    var url: String
}

enum MigratingSamples {
    static func byHand(jobs: JobService) async throws -> UUID {
        // create_job: a scheduled row. A queue no executor serves keeps executors away from it.
        let job = try await jobs.create("export", payload: ExportRequest(accountID: 42), options: JobOptions(queue: "manual"))
        // start_job: in_progress under a lease; the token proves ownership from now on.
        let started = try await jobs.start(job.id)
        let lease = started.lease?.token
        // update_progress
        try await jobs.reportProgress(job.id, percent: 50, step: "rows", lease: lease)
        // complete_job
        try await jobs.complete(job.id, result: ExportResult(url: "s3://exports/42.csv"), lease: lease)
        return job.id
    }

    static func failByHand(jobs: JobService, id: UUID, lease: UUID?) async throws -> Job {
        // fail_job: back to scheduled in 30 s while attempts remain (see maxAttempts), else failed.
        let job = try await jobs.fail(id, message: "the export service answered 503", retryAfter: .seconds(30), lease: lease)
        return job
    }

    static func getOrCreate(jobs: JobService) async throws -> (Job, Bool) {
        let (export, created) = try await jobs.getOrCreate(
            uniqueKey: "export-42-2025-01", type: "export", payload: ExportRequest(accountID: 42), options: JobOptions(queue: "manual"))
        return (export, created)
    }

    static func cleanupOldJobs(jobs: JobService) async throws -> Int {
        let deleted = try await jobs.cleanup(olderThan: .seconds(30 * 86_400))  // done, failed and cancelled
        return deleted
    }
}
