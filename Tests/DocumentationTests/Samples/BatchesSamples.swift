// The code of Documentation/Batches.md (see GettingStartedSamples.swift for how it is checked).
import Foundation
import JobKit

enum BatchesSamples {
    static func importFolder(jobs: JobService, files: [String]) async throws -> (imported: Int, failures: [String]) {
        let outcomes = try await jobs.runBatch("import-file", files, concurrency: 4) { file, job in
            try await job.progress(0, step: "reading")
            return try await importFile(file)
        }
        var imported = 0
        var failures: [String] = []
        for (file, outcome) in zip(files, outcomes) {
            switch outcome {
            case .success(let rows): imported += rows
            case .failure(let error): failures.append("\(file): \(error)")
            }
        }
        return (imported, failures)
    }

    static func migrateTenants(jobs: JobService, tenants: [String]) async throws -> [Result<Int, any Error>] {
        let outcomes = try await jobs.runBatch("migrate-tenant", tenants, concurrency: 2, stopOnFailure: true) { tenant, _ in
            try await migrate(tenant: tenant)
        }
        return outcomes
    }

    static func batchAsOneJob(jobs: JobService, folder: String, files: [String]) async throws -> Int {
        let imported = try await jobs.runAsJob("import-folder", payload: folder) { folderJob in
            let outcomes = try await jobs.runBatch("import-file", files, concurrency: 4) { file, _ in
                try await importFile(file)
            }
            try await folderJob.progress(100, step: "\(outcomes.count) files")
            return try outcomes.reduce(0) { total, outcome in total + (try outcome.get()) }
        }
        return imported
    }
}
