// The code of Documentation/Operations.md (see GettingStartedSamples.swift for how it is checked).
import Foundation
import JobKit
import LibPQ
import Logging

enum OperationsSamples {
    // MARK: Maintenance

    static func makeMaintenance(jobs: JobService, logger: Logger) -> MaintenanceService {
        let maintenance = MaintenanceService(
            service: jobs,
            configuration: .init(
                interval: .seconds(30),
                retention: [.done: .seconds(3 * 86_400), .cancelled: .seconds(3 * 86_400), .failed: .seconds(90 * 86_400)],
                batchSize: 5_000),
            logger: logger)
        return maintenance
    }

    static func makeService(pool: PostgresConnectionPool) -> JobService {
        let jobs = JobService(pool: pool, configuration: .init(
            stuckJobPolicies: ["send-invoice": .fail, "thumbnail": .retry]))
        return jobs
    }

    static func maintainNow(maintenance: MaintenanceService) async throws -> MaintenanceReport {
        let report = try await maintenance.runOnce()
        // report.recovery: rescheduled, failed, cancelled, timedOut; report.deleted["done"];
        // report.validationIssues and report.fixed; report.errors names the steps that failed.
        return report
    }

    // MARK: Health and stats from code

    static func check(jobs: JobService, logger: Logger) async throws -> (JobHealth, JobStats) {
        let health = await jobs.health()  // never throws: an unreachable database is a problem it reports
        if !health.isHealthy {
            logger.warning("JobKit is unhealthy", metadata: ["jobkit.problems": "\(health.problems)"])
        }
        let stats = try await jobs.stats(window: .seconds(900))
        // stats.byStatus["failed"], stats.stuck, stats.oldestScheduledAt, stats.p95ProcessingSeconds, …
        return (health, stats)
    }

    // MARK: Forced changes

    static func forceFail(jobs: JobService, id: UUID) async throws -> Job {
        let failed = try await jobs.forceFail(id, reason: "stuck on a dead NFS mount", actor: "ops:ada")
        return failed
    }

    static func forceReset(jobs: JobService, id: UUID) async throws -> Job {
        let scheduled = try await jobs.forceReset(id, reason: "mount repaired", actor: "ops:ada")
        return scheduled
    }
}
