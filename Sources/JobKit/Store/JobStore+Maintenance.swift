import Foundation
import LibPQ

/// Statements of recovery, validation, forced changes, retention, stats and health.
extension JobStore {
    // MARK: - Stuck jobs

    /// Takes back running jobs whose worker is gone: those whose lease expired or, with
    /// `owner`, every job that owner held (a restarted worker's orphans). A job whose
    /// cancellation was requested ends `cancelled`; otherwise the job type's policy (default
    /// ``StuckJobPolicy/byProgress``) chooses between `scheduled` (while attempts remain) and
    /// `failed`, with a message that says at what progress and by which worker it was abandoned.
    /// A job whose lease is alive is never touched.
    func rescue(owner: String? = nil, policies: [String: StuckJobPolicy] = [:], limit: Int = 1000) async throws -> RecoveryReport {
        let condition: PostgresQuery = owner.map { " lease_owner = \($0)" } ?? " lease_expires_at < now()"
        let retryTypes = policies.filter { $0.value == .retry }.map(\.key)
        let failTypes = policies.filter { $0.value == .fail }.map(\.key)
        var query: PostgresQuery = "WITH stuck AS (SELECT id FROM \(unescaped: self.jobs) WHERE status = 'in_progress' AND"
        query.append(condition)
        query.append("""
             ORDER BY lease_expires_at LIMIT \(limit) FOR UPDATE SKIP LOCKED),
            decided AS (
                SELECT j.id, CASE
                    WHEN j.cancel_requested_at IS NOT NULL THEN 'cancelled'
                    WHEN j.job_type = ANY(\(failTypes)) THEN 'failed'
                    WHEN j.progress > 0 AND NOT j.job_type = ANY(\(retryTypes)) THEN 'failed'
                    WHEN j.attempt < j.max_attempts THEN 'scheduled'
                    ELSE 'failed' END AS outcome
                FROM \(unescaped: self.jobs) AS j JOIN stuck USING (id)),
            upd AS (
                UPDATE \(unescaped: self.jobs) AS j SET
                    status = d.outcome::\(unescaped: self.statusType),
                    error_message = 'abandoned at ' || j.progress || '% by worker ' || COALESCE(j.lease_owner, '?')
                        || CASE WHEN \(owner)::text IS NULL THEN ': its lease expired' ELSE ': the worker restarted' END,
                    finished_at = CASE WHEN d.outcome = 'scheduled' THEN NULL ELSE now() END,
                    run_at = now(), progress = CASE WHEN d.outcome = 'scheduled' THEN 0 ELSE j.progress END,
                    lease_token = NULL, lease_expires_at = NULL, updated_at = now()
                FROM decided AS d WHERE j.id = d.id
                RETURNING j.id, j.status, j.progress, j.current_step, j.updated_at, j.attempt, j.error_message),
            ev AS (
                INSERT INTO \(unescaped: self.events) (job_id, kind, from_status, to_status, message, attempt)
                SELECT id, 'rescued', 'in_progress', status, error_message, attempt FROM upd)
            SELECT
                count(*) FILTER (WHERE status = 'scheduled'),
                count(*) FILTER (WHERE status = 'failed'),
                count(*) FILTER (WHERE status = 'cancelled')
            FROM upd, (\(unescaped: self.notifyChanges(of: "upd"))) AS n
            """)
        guard let row = try await self.pool.query(query.named("jobs.rescue")).first else { return RecoveryReport() }
        let (rescheduled, failed, cancelled) = try row.decode((Int, Int, Int).self)
        return RecoveryReport(rescheduled: rescheduled, failed: failed, cancelled: cancelled)
    }

    /// Fails running jobs that ran past their timeout (their runner did not stop them).
    func failTimedOut(limit: Int = 1000) async throws -> Int {
        let query: PostgresQuery = """
            WITH late AS (
                SELECT id FROM \(unescaped: self.jobs)
                WHERE status = 'in_progress' AND timeout_ms IS NOT NULL AND started_at + timeout_ms * interval '1 millisecond' < now()
                LIMIT \(limit) FOR UPDATE SKIP LOCKED),
            upd AS (
                UPDATE \(unescaped: self.jobs) AS j SET status = 'failed', finished_at = now(),
                    error_message = 'timed out after ' || (j.timeout_ms / 1000.0)::float8 || ' s; failed by maintenance',
                    lease_token = NULL, lease_expires_at = NULL, updated_at = now()
                FROM late WHERE j.id = late.id
                RETURNING j.id, j.status, j.progress, j.current_step, j.updated_at, j.attempt, j.error_message),
            ev AS (
                INSERT INTO \(unescaped: self.events) (job_id, kind, from_status, to_status, message, attempt)
                SELECT id, 'timed_out', 'in_progress', status, error_message, attempt FROM upd)
            SELECT count(*) FROM upd, (\(unescaped: self.notifyChanges(of: "upd"))) AS n
            """
        return try await self.pool.query(query.named("jobs.failTimedOut")).first?.decode(Int.self, at: 0) ?? 0
    }

    // MARK: - Validation

    /// The checks of ``validate(_:limit:)``: a code, the condition that finds it, and the fix
    /// (`nil` when no fix is unambiguous).
    static let validationChecks: [(code: String, condition: String, fix: String?)] = [
        ("finished_without_time", "status IN ('done', 'failed', 'cancelled') AND finished_at IS NULL", "finished_at = updated_at"),
        ("unfinished_with_time", "status IN ('scheduled', 'in_progress') AND finished_at IS NOT NULL", "finished_at = NULL"),
        ("progress_out_of_range", "progress < 0 OR progress > 100", "progress = LEAST(GREATEST(progress, 0), 100)"),
        ("lease_on_idle_job", "status <> 'in_progress' AND (lease_token IS NOT NULL OR lease_expires_at IS NOT NULL)",
         "lease_token = NULL, lease_expires_at = NULL"),
        ("done_below_100", "status = 'done' AND progress <> 100", "progress = 100"),
        ("stale_cancel_request", "cancel_requested_at IS NOT NULL AND status NOT IN ('in_progress', 'cancelled')",
         "cancel_requested_at = NULL"),
        ("running_without_lease", "status = 'in_progress' AND (lease_token IS NULL OR lease_expires_at IS NULL)", nil),
        ("running_without_start", "status = 'in_progress' AND started_at IS NULL", nil),
        ("attempts_over_limit", "attempt > max_attempts", nil),
    ]

    /// Rows whose fields disagree with their status: one job's, or up to `limit` of all.
    func validate(_ id: UUID?, limit: Int) async throws -> [ValidationIssue] {
        let cases = Self.validationChecks.map { "(CASE WHEN \($0.condition) THEN '\($0.code)' END)" }.joined(separator: ", ")
        let query: PostgresQuery = """
            SELECT id, status::text, issue FROM \(unescaped: self.jobs), LATERAL (VALUES \(unescaped: cases)) AS v(issue)
            WHERE issue IS NOT NULL AND (\(id)::uuid IS NULL OR id = \(id)) LIMIT \(limit)
            """
        let fixable = Set(Self.validationChecks.filter { $0.fix != nil }.map(\.code))
        return try await self.pool.query(query.named("jobs.validate")).map { row in
            let (jobID, status, code) = try row.decode((UUID, String, String).self)
            return ValidationIssue(jobID: jobID, status: JobStatus(rawValue: status) ?? .scheduled, code: code, isFixable: fixable.contains(code))
        }
    }

    /// Applies the unambiguous fixes to the given jobs, recording each in their history.
    func fix(_ issues: [ValidationIssue], actor: String) async throws -> Int {
        var fixed = 0
        for check in Self.validationChecks {
            guard let fix = check.fix else { continue }
            let ids = issues.filter { $0.code == check.code }.map(\.jobID)
            guard !ids.isEmpty else { continue }
            let query: PostgresQuery = """
                WITH upd AS (
                    UPDATE \(unescaped: self.jobs) SET \(unescaped: fix), updated_at = now()
                    WHERE id = ANY(\(ids)) AND (\(unescaped: check.condition)) RETURNING id, status, attempt),
                ev AS (
                    INSERT INTO \(unescaped: self.events) (job_id, kind, from_status, to_status, message, actor, attempt)
                    SELECT id, 'validated', status, status, \("fixed: " + check.code), \(actor), attempt FROM upd)
                SELECT count(*) FROM upd
                """
            fixed += try await self.pool.query(query.named("jobs.fix")).first?.decode(Int.self, at: 0) ?? 0
        }
        return fixed
    }

    // MARK: - Maintenance runs and workers

    func recordMaintenanceRun(_ report: MaintenanceReport, leader: String) async throws {
        let json = try JobJSON.encode(report)
        try await self.run("jobs.recordMaintenance", """
            WITH ins AS (
                INSERT INTO \(unescaped: self.schema).maintenance_runs (started_at, duration_ms, leader, succeeded, report)
                VALUES (\(report.startedAt), \(report.durationMilliseconds), \(leader), \(report.errors.isEmpty), \(json)::jsonb) RETURNING id)
            DELETE FROM \(unescaped: self.schema).maintenance_runs WHERE id < (SELECT id FROM ins) - 100
            """)
    }

    /// How many jobs of a queue wait in `scheduled`: runnable now, or later (delayed, backing off).
    struct QueueDepth: Sendable, Hashable {
        var queue: String
        var available: Int
        var scheduled: Int
    }

    /// Records a worker's heartbeat. With `countingQueues`, the same statement also counts the
    /// waiting jobs of each of its queues, from the claim index alone (`jobs_claim_idx` holds
    /// exactly the `scheduled` rows, keyed by queue, with `run_at`).
    @discardableResult
    func registerWorker(id: String, queues: [String], concurrency: Int, running: Int, countingQueues: Bool = false) async throws -> [QueueDepth] {
        let upsert: PostgresQuery = """
            INSERT INTO \(unescaped: self.schema).workers (id, queues, concurrency, running) VALUES (\(id), \(queues), \(concurrency), \(running))
            ON CONFLICT (id) DO UPDATE SET queues = EXCLUDED.queues, concurrency = EXCLUDED.concurrency,
                running = EXCLUDED.running, last_seen_at = now()
            """
        guard countingQueues else {
            try await self.run("workers.heartbeat", upsert)
            return []
        }
        var query: PostgresQuery = "WITH heartbeat AS ("
        query.append(upsert)
        query.append("""
            )
            SELECT q, d.available, d.later FROM unnest(\(queues)::text[]) AS q, LATERAL (
                SELECT count(*) FILTER (WHERE run_at <= now()) AS available, count(*) FILTER (WHERE run_at > now()) AS later
                FROM \(unescaped: self.jobs) WHERE status = 'scheduled' AND queue = q) AS d
            """)
        return try await self.run("workers.heartbeatDepth", query).map { row in
            let (queue, available, later) = try row.decode((String, Int, Int).self)
            return QueueDepth(queue: queue, available: available, scheduled: later)
        }
    }

    func unregisterWorker(id: String) async throws {
        try await self.run("workers.unregister", "DELETE FROM \(unescaped: self.schema).workers WHERE id = \(id)")
    }
}
