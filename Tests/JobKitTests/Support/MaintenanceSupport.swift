import Foundation
import JobKit
import LibPQ
import ServiceLifecycle
import ServiceLifecycleTestKit
import Testing

// MARK: - Rows in any state, by SQL

extension JobKitFixture {
    /// Runs a setup statement and returns how many rows it changed.
    @discardableResult
    func execute(_ query: PostgresQuery) async throws -> Int {
        try await self.pool.query(query).affectedRows
    }

    /// A running job, started by `"worker-main"` under a live lease, with `progress` reported.
    func runningJob(type: String = "thumbnail", maxAttempts: Int = 3, progress: Int = 0, timeout: Duration? = nil) async throws -> Job {
        let job = try await self.job(in: .inProgress, type: type, options: .init(maxAttempts: maxAttempts, timeout: timeout))
        if progress > 0 {
            try await self.jobs.reportProgress(job.id, percent: progress, lease: job.lease?.token)
        }
        return try await self.jobs.job(job.id)
    }

    /// Makes a running job's lease run out a minute ago, as if its worker died.
    func expireLease(_ id: UUID) async throws {
        let changed = try await self.execute("""
            UPDATE \(unescaped: self.schema).jobs SET lease_expires_at = now() - interval '1 minute'
            WHERE id = \(id) AND status = 'in_progress'
            """)
        try #require(changed == 1)
    }

    /// Drops the CHECK constraints that keep a row's fields in line with its status, as on a
    /// database whose rows predate them: then rows can disagree with their status.
    func dropStatusConstraints() async throws {
        let progressCheck = try #require(
            try await self.pool.query("""
                SELECT conname::text FROM pg_constraint
                WHERE conrelid = \(self.schema + ".jobs")::regclass AND contype = 'c' AND pg_get_constraintdef(oid) LIKE '%(progress >= 0)%'
                """).first
        ).decode(String.self, at: 0)
        for name in ["jobs_finished_has_time", "jobs_in_progress_has_lease", progressCheck] {
            try await self.execute("ALTER TABLE \(unescaped: self.schema).jobs DROP CONSTRAINT \(unescaped: name)")
        }
    }

    /// Inserts `count` finished jobs in one statement, each finished `age` ago after a 1-second
    /// run, each with one history entry.
    func insertFinishedJobs(_ count: Int, status: JobStatus, type: String, finishedAgo age: Duration) async throws -> [UUID] {
        precondition(status.isFinished)
        let ids = try await self.pool.query("""
            INSERT INTO \(unescaped: self.schema).jobs
                (id, job_type, status, progress, attempt, max_attempts, created_at, run_at, started_at, finished_at, updated_at)
            SELECT gen_random_uuid(), \(type), \(status.rawValue)::text::\(unescaped: self.schema).job_status,
                CASE WHEN \(status.rawValue) = 'done' THEN 100 ELSE 0 END, 1, 1, t - interval '1 second', t - interval '1 second',
                t - interval '1 second', t, t
            FROM generate_series(1, \(count)), LATERAL (SELECT now() - \(age.components.seconds) * interval '1 second' AS t) AS moment
            RETURNING id
            """).map { try $0.decode(UUID.self, at: 0) }
        try await self.execute("""
            INSERT INTO \(unescaped: self.schema).job_events (job_id, kind, from_status, to_status, attempt)
            SELECT id, 'finished', 'in_progress', status, 1 FROM \(unescaped: self.schema).jobs WHERE id = ANY(\(ids))
            """)
        return ids
    }

    /// Records how many rows each `DELETE` statement on the jobs table removes, with a
    /// statement-level trigger over the deleted rows; read them with ``deleteBatches()``.
    func recordDeleteBatches() async throws {
        try await self.execute("CREATE TABLE public.delete_batches (seq bigint GENERATED ALWAYS AS IDENTITY, rows bigint NOT NULL)")
        try await self.execute("""
            CREATE FUNCTION public.record_delete_batch() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO public.delete_batches (rows) SELECT count(*) FROM deleted;
                RETURN NULL;
            END $$
            """)
        try await self.execute("""
            CREATE TRIGGER record_delete_batch AFTER DELETE ON \(unescaped: self.schema).jobs
            REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION public.record_delete_batch()
            """)
    }

    /// The row counts of the `DELETE` statements since ``recordDeleteBatches()``, in order.
    func deleteBatches() async throws -> [Int] {
        try await self.pool.query("SELECT rows FROM public.delete_batches ORDER BY seq").map { try $0.decode(Int.self, at: 0) }
    }

    /// The job's history entries of one kind.
    func events(of id: UUID, kind: String) async throws -> [JobEvent] {
        try await self.jobs.history(of: id).filter { $0.kind == kind }
    }
}

// MARK: - Reports

extension RecoveryReport {
    /// The non-zero counts by name, such as `["rescheduled": 1]`.
    var moved: [String: Int] {
        let counts = ["rescheduled": self.rescheduled, "failed": self.failed, "cancelled": self.cancelled, "timedOut": self.timedOut]
        return counts.filter { $0.value != 0 }
    }
}

// MARK: - Services running in the background

/// Runs `service` while `body` runs, then shuts it down gracefully and waits for its `run()` to return.
func whileRunning<Result: Sendable>(
    _ service: some Service,
    _ body: () async throws -> Result
) async throws -> Result {
    try await testGracefulShutdown { trigger in
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await service.run() }
            do {
                let result = try await body()
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
                return result
            } catch {
                trigger.triggerGracefulShutdown()
                group.cancelAll()
                try? await group.waitForAll()
                throw error
            }
        }
    }
}

/// A ``MaintenanceService`` competing for leadership in a task of its own, which a test can
/// stop on its own (as if its process died) while the others go on.
final class BackgroundMaintenance: Sendable {
    let maintenance: MaintenanceService
    private let task: Task<Void, any Error>

    init(_ maintenance: MaintenanceService) {
        self.maintenance = maintenance
        // A task of its own: the test cancels this one service and not the others.
        self.task = Task { try await maintenance.run() }
    }

    var isLeader: Bool { self.maintenance.isLeader }
    var workerID: String { self.maintenance.service.configuration.workerID }

    /// Cancels its `run()` and waits until it has returned (its lock connection closed).
    func stop() async {
        self.task.cancel()
        _ = await self.task.result
    }
}

// MARK: - Errors

/// The ``JobError`` that `body` throws (recorded as an issue when it throws none).
func jobError(_ body: () async throws -> Void) async throws -> JobError {
    try await #require(throws: JobError.self) { try await body() }
}
