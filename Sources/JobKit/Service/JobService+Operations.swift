import Foundation
import LibPQ

extension JobService {
    // MARK: - Forced changes

    /// Fails a running job by hand, with a reason; its runner's late result is refused.
    /// - Parameters:
    ///   - id: The job.
    ///   - reason: Why, stored as its error and in its history.
    ///   - actor: Who, kept in its history.
    /// - Returns: The `failed` job.
    /// - Throws: ``JobError`` `.notFound`, `.illegalTransition`, `.invalidArgument` (empty reason); ``PostgresError``.
    @discardableResult
    public nonisolated func forceFail(_ id: UUID, reason: String, actor: String) async throws -> Job {
        guard !reason.isEmpty else { throw JobError.invalidArgument("a forced change needs a reason") }
        return try await self.store.transition(id, .forceFail, set: """
            , error_message = \("forced: " + reason), finished_at = now(), lease_token = NULL, lease_expires_at = NULL
            """, event: .init(kind: "force_failed", message: reason, actor: actor))
    }

    /// Sends a running (stuck) or failed job back to `scheduled` by hand, granting another
    /// attempt if needed; a runner's late result is refused.
    /// - Parameters:
    ///   - id: The job.
    ///   - reason: Why, kept in its history.
    ///   - actor: Who, kept in its history.
    /// - Returns: The `scheduled` job.
    /// - Throws: ``JobError`` `.notFound`, `.illegalTransition`, `.invalidArgument` (empty reason); ``PostgresError``.
    @discardableResult
    public nonisolated func forceReset(_ id: UUID, reason: String, actor: String) async throws -> Job {
        guard !reason.isEmpty else { throw JobError.invalidArgument("a forced change needs a reason") }
        return try await self.store.transition(id, .forceReset, set: """
            , run_at = now(), finished_at = NULL, progress = 0, current_step = NULL, cancel_requested_at = NULL,
            lease_token = NULL, lease_expires_at = NULL, max_attempts = GREATEST(j.max_attempts, j.attempt + 1)
            """, event: .init(kind: "force_reset", message: reason, actor: actor))
    }

    // MARK: - Recovery and validation

    /// Recovers stuck jobs now: running jobs whose lease expired (per `policies`, by default
    /// back to `scheduled` without progress, `failed` with), and running jobs past their timeout.
    /// - Parameter policies: Per job type; types not listed use ``StuckJobPolicy/byProgress``.
    ///   Defaults to ``Configuration/stuckJobPolicies``.
    /// - Returns: What moved.
    /// - Throws: ``PostgresError``.
    public nonisolated func recoverStuckJobs(policies: [String: StuckJobPolicy]? = nil) async throws -> RecoveryReport {
        var report = try await self.store.rescue(policies: policies ?? self.configuration.stuckJobPolicies)
        report.timedOut = try await self.store.failTimedOut()
        return report
    }

    /// Checks that a job's fields agree with its status, fixing what is unambiguous.
    /// - Parameters:
    ///   - id: The job.
    ///   - fix: Whether to apply the unambiguous fixes. Defaults to `false`.
    /// - Returns: The issues found (before fixing).
    /// - Throws: ``JobError/Code/notFound``; ``PostgresError``.
    public nonisolated func validate(_ id: UUID, fix: Bool = false) async throws -> [ValidationIssue] {
        let issues = try await self.store.validate(id, limit: 100)
        if issues.isEmpty { _ = try await self.job(id) }
        if fix { _ = try await self.store.fix(issues, actor: "validate") }
        return issues
    }

    /// Checks every job (up to `limit` issues), fixing what is unambiguous when asked.
    /// - Parameters:
    ///   - fix: Whether to apply the unambiguous fixes. Defaults to `false`.
    ///   - limit: At most this many issues are reported (and fixed). Defaults to 1,000.
    /// - Returns: The issues found and how many were fixed.
    /// - Throws: ``PostgresError``.
    public nonisolated func validateAll(fix: Bool = false, limit: Int = 1000) async throws -> (issues: [ValidationIssue], fixed: Int) {
        let issues = try await self.store.validate(nil, limit: limit)
        return (issues, fix ? try await self.store.fix(issues, actor: "validate") : 0)
    }

    // MARK: - Stats and health

    /// Counts and timings, from one query whose cost does not grow with the number of finished
    /// jobs. The counts are exact: triggers on the jobs table keep them, and this first folds
    /// the changes recorded since the last call (or maintenance run) into the totals.
    /// - Parameter window: How far back run times are averaged (over at most the 1,000 latest
    ///   finished jobs). Defaults to 1 hour.
    /// - Returns: The stats.
    /// - Throws: ``PostgresError``.
    public nonisolated func stats(window: Duration = .seconds(3600)) async throws -> JobStats {
        try await self.store.rollUpCounts()
        return try await self.store.stats(window: window)
    }

    /// Whether the database answers, the schema is current, maintenance runs, workers live, and
    /// the jobs table is fit for the claim: its indexes exist and are valid, and neither it nor
    /// the claim index is bloated beyond ``Configuration/healthThresholds`` (see ``JobHealth/storage``).
    /// Never throws: an unreachable database is reported as such.
    /// - Parameter workerTimeout: How recent a worker's heartbeat must be. Defaults to 3 heartbeats.
    /// - Returns: The health report.
    public nonisolated func health(workerTimeout: Duration? = nil) async -> JobHealth {
        let expected = Migration.all.map(\.version).max() ?? 0
        let timeout = workerTimeout ?? self.configuration.heartbeatInterval * 3
        let started = ContinuousClock.now
        do {
            var health = try await self.store.health(workerTimeout: timeout, expectedVersion: expected)
            health.databaseLatencyMilliseconds = Double((ContinuousClock.now - started).milliseconds)
            do {
                if let (storage, now) = try await self.store.storage() {
                    health.storage = storage
                    health.problems += storage.problems(thresholds: self.configuration.healthThresholds, schema: self.configuration.schema, now: now)
                }
            } catch {
                health.problems.append("the jobs table's statistics could not be read: \(error)")
            }
            return health
        } catch {
            return JobHealth(
                databaseReachable: false, databaseLatencyMilliseconds: nil, schemaVersion: nil, expectedSchemaVersion: expected,
                lastMaintenance: nil, workers: [], problems: ["the database is unreachable: \(error)"])
        }
    }
}
