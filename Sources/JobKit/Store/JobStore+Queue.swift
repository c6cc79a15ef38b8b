import Foundation
import LibPQ

/// The work queue's statements: enqueue, claim, finish, renew, rescue.
extension JobStore {
    /// The channel that wakes idle executors; the payload is the queue's name.
    var enqueuedChannel: String { "\(self.schema)_enqueued" }

    // MARK: - Enqueue

    /// Inserts `scheduled` jobs and wakes the executors of their queues, on `connection` (the
    /// caller's transaction) or in a transaction of its own.
    ///
    /// Large sets without unique keys or run-at times go through `COPY`; the rest through one
    /// `INSERT … SELECT FROM unnest(…)`.
    func enqueue(_ jobs: [NewJob], on connection: PostgresConnection?) async throws {
        guard !jobs.isEmpty else { return }
        if let connection {
            try await self.enqueue(jobs, connection: connection)
        } else if jobs.count == 1 {
            try await self.pool.withConnection { try await self.enqueue(jobs, connection: $0) }
        } else {
            try await self.pool.withTransaction { try await self.enqueue(jobs, connection: $0) }
        }
    }

    private func enqueue(_ jobs: [NewJob], connection: PostgresConnection) async throws {
        let queues = Array(Set(jobs.map(\.options.queue))).sorted()
        let usesCopy = jobs.count >= 64 && jobs.allSatisfy { $0.options.uniqueKey == nil && $0.options.runAt == nil }
        do {
            if usesCopy {
                var rows = PostgresCopyRows()
                for job in jobs {
                    let options = job.options
                    rows.append(
                        job.id, options.queue, job.type, Int16(options.priority), job.payloadJSON, options.maxAttempts ?? 1,
                        options.reference?.type, options.reference?.id, options.timeout.map { Int($0.milliseconds) }, job.traceContextJSON)
                }
                try await connection.copyFrom("""
                    COPY \(self.jobs) (id, queue, job_type, priority, payload, max_attempts, reference_type, reference_id, timeout_ms, trace_context) FROM STDIN
                    """, rows: rows)
                let notify: PostgresQuery = "SELECT pg_notify(\(self.enqueuedChannel), q) FROM unnest(\(queues)) AS q"
                try await connection.query(notify.named("jobs.enqueueNotify"))
            } else {
                try await connection.query(self.insertMany(jobs, notifying: queues))
            }
        } catch let error as PostgresError where error.sqlState == .uniqueViolation {
            let key = jobs.compactMap(\.options.uniqueKey).first { error.detail?.contains($0) == true }
            throw JobError.duplicate(uniqueKey: key ?? jobs.compactMap(\.options.uniqueKey).first ?? "")
        }
    }

    private func insertMany(_ jobs: [NewJob], notifying queues: [String]) -> PostgresQuery {
        let options = jobs.map(\.options)
        let query: PostgresQuery = """
            WITH ins AS (
                INSERT INTO \(unescaped: self.jobs) (id, queue, job_type, priority, payload, max_attempts, reference_type, reference_id, unique_key, run_at, timeout_ms, trace_context)
                SELECT id, queue, job_type, priority, payload::jsonb, max_attempts, reference_type, reference_id, unique_key, COALESCE(run_at, now()), timeout_ms,
                    trace_context::jsonb
                FROM unnest(\(jobs.map(\.id)), \(options.map(\.queue)), \(jobs.map(\.type)), \(options.map { Int16($0.priority) }),
                            \(jobs.map(\.payloadJSON)), \(options.map { Int32($0.maxAttempts ?? 1) }), \(options.map(\.reference?.type)),
                            \(options.map(\.reference?.id)), \(options.map(\.uniqueKey)), \(options.map(\.runAt)),
                            \(options.map { $0.timeout.map { Int($0.milliseconds) } }), \(jobs.map(\.traceContextJSON)))
                    AS u(id, queue, job_type, priority, payload, max_attempts, reference_type, reference_id, unique_key, run_at, timeout_ms, trace_context)
                RETURNING 1)
            SELECT pg_notify(\(self.enqueuedChannel), q) FROM unnest(\(queues)) AS q WHERE EXISTS (SELECT FROM ins)
            """
        return query.named("jobs.enqueue")
    }

    // MARK: - Claim

    /// Claims up to `limit` runnable jobs of `queues` for `owner`, highest priority and oldest
    /// first, skipping rows other executors hold: `scheduled → in_progress` under new leases.
    ///
    /// Claims and finishes send no change notifications: on the hot path each NOTIFY wakes
    /// every listening connection of the database (measured: twice the transactions per job).
    /// Observers of queued jobs see their changes at their next poll.
    func claim(queues: [String], limit: Int, owner: String, leaseDuration: Duration) async throws -> [Job] {
        precondition(JobTransitions.allows(.start, from: .scheduled))
        let queueCondition: PostgresQuery = queues.count == 1 ? " queue = \(queues[0])" : " queue = ANY(\(queues))"
        var query: PostgresQuery = """
            WITH claimed AS (
                UPDATE \(unescaped: self.jobs) AS j SET status = 'in_progress', attempt = j.attempt + 1, started_at = now(),
                    lease_owner = \(owner), lease_token = gen_random_uuid(),
                    lease_expires_at = now() + \(leaseDuration.milliseconds) * interval '1 millisecond',
                    progress = 0, current_step = NULL, cancel_requested_at = NULL, updated_at = now()
                FROM (SELECT id FROM \(unescaped: self.jobs) WHERE status = 'scheduled' AND
            """
        query.append(queueCondition)
        query.append("""
             AND run_at <= now() ORDER BY priority, run_at LIMIT \(limit) FOR UPDATE SKIP LOCKED) AS c
                WHERE j.id = c.id
                RETURNING \(unescaped: Self.columns("j.")))
            SELECT * FROM claimed
            """)
        return try await self.pool.query(query.named("jobs.claimMany")).map { try Self.job(from: $0) }
    }

    // MARK: - Finish

    /// How a claimed job ended, as its executor reports it.
    struct Outcome: Sendable {
        enum Kind: String, Sendable {
            /// `complete`: done, with a result.
            case done
            /// `retryLater`: back to scheduled after `delay`.
            case retry
            /// `fail`: failed for good.
            case failed
            /// `cancel`: stopped on request.
            case cancelled
            /// `release`: given back unfinished (shutdown); the attempt does not count.
            case released
        }

        var id: UUID
        var lease: UUID
        var kind: Kind
        var resultJSON: String?
        var error: String?
        var delay: Duration = .zero

        var move: JobTransitions.Move {
            switch self.kind {
            case .done: .complete
            case .retry: .retryLater
            case .failed: .fail
            case .cancelled: .cancel
            case .released: .release
            }
        }
    }

    /// Writes many outcomes in one statement; returns the ids it wrote. An outcome whose lease
    /// is no longer the job's changes nothing and is missing from the result.
    ///
    /// It locks its rows in id order before updating them, as ``renew(_:duration:)`` does: the
    /// two run at once in an executor and share rows, and in any other order they deadlock.
    func finish(_ outcomes: [Outcome]) async throws -> Set<UUID> {
        guard !outcomes.isEmpty else { return [] }
        // Every outcome's move leaves from in_progress only (the transition table says so).
        let sources = outcomes.reduce(Set(JobStatus.allCases)) { $0.intersection(JobTransitions.sources(of: $1.move)) }
        let query: PostgresQuery = """
            WITH o AS (
                SELECT * FROM unnest(\(outcomes.map(\.id)), \(outcomes.map(\.lease)), \(outcomes.map(\.kind.rawValue)),
                                     \(outcomes.map(\.resultJSON)), \(outcomes.map(\.error)), \(outcomes.map { Int($0.delay.milliseconds) }))
                    AS o(id, token, kind, result, error, delay_ms)),
            fin AS (
                UPDATE \(unescaped: self.jobs) AS j SET
                    status = (CASE o.kind WHEN 'done' THEN 'done' WHEN 'failed' THEN 'failed' WHEN 'cancelled' THEN 'cancelled' ELSE 'scheduled' END)::\(unescaped: self.statusType),
                    result = CASE WHEN o.kind = 'done' THEN o.result::jsonb ELSE j.result END,
                    error_message = COALESCE(o.error, j.error_message),
                    progress = CASE WHEN o.kind = 'done' THEN 100 WHEN o.kind IN ('retry', 'released') THEN 0 ELSE j.progress END,
                    finished_at = CASE WHEN o.kind IN ('done', 'failed', 'cancelled') THEN now() END,
                    run_at = CASE WHEN o.kind IN ('retry', 'released') THEN now() + o.delay_ms * interval '1 millisecond' ELSE j.run_at END,
                    attempt = CASE WHEN o.kind = 'released' THEN j.attempt - 1 ELSE j.attempt END,
                    lease_token = NULL, lease_expires_at = NULL, updated_at = now()
                FROM o, (SELECT id FROM \(unescaped: self.jobs) WHERE id = ANY(\(outcomes.map(\.id))) ORDER BY id FOR UPDATE) AS locked
                WHERE j.id = o.id AND j.id = locked.id AND j.lease_token = o.token AND j.status::text = ANY(\(sources.map(\.rawValue)))
                RETURNING j.id, j.status, j.progress, j.current_step, j.updated_at, j.attempt, o.kind, o.error),
            ev AS (
                INSERT INTO \(unescaped: self.events) (job_id, kind, from_status, to_status, message, attempt)
                SELECT id, CASE kind WHEN 'retry' THEN 'retry_scheduled' ELSE kind END, 'in_progress', status, error, attempt
                FROM fin WHERE kind <> 'done')
            SELECT fin.id FROM fin
            """
        let rows = try await self.pool.query(query.named("jobs.finishMany"))
        return Set(try rows.map { try $0.decode(UUID.self, at: 0) })
    }

    // MARK: - Leases

    /// Renews the leases of running jobs in one statement; returns, of those still held, whether
    /// each one's cancellation was requested. Ids missing from the result lost their lease.
    ///
    /// Rows are locked in id order, as ``finish(_:)`` locks them (see there).
    func renew(_ leases: [(id: UUID, token: UUID)], duration: Duration) async throws -> [UUID: Bool] {
        guard !leases.isEmpty else { return [:] }
        let query: PostgresQuery = """
            UPDATE \(unescaped: self.jobs) AS j SET lease_expires_at = now() + \(duration.milliseconds) * interval '1 millisecond'
            FROM unnest(\(leases.map(\.id)), \(leases.map(\.token))) AS l(id, token),
                (SELECT id FROM \(unescaped: self.jobs) WHERE id = ANY(\(leases.map(\.id))) ORDER BY id FOR UPDATE) AS locked
            WHERE j.id = l.id AND j.id = locked.id AND j.lease_token = l.token AND j.status = 'in_progress'
            RETURNING j.id, j.cancel_requested_at IS NOT NULL
            """
        let rows = try await self.pool.query(query.named("jobs.renewMany"))
        var result: [UUID: Bool] = [:]
        for row in rows {
            let (id, cancelRequested) = try row.decode((UUID, Bool).self)
            result[id] = cancelRequested
        }
        return result
    }

    // MARK: - Notifications

    /// A one-row subquery that sends the changes of the rows of `relation` (which has `id`,
    /// `status`, `progress`, `current_step`, `updated_at`) as JSON arrays of ``JobUpdate``s,
    /// 40 to a notification so each stays under PostgreSQL's 8,000-byte limit.
    func notifyChanges(of relation: String) -> String {
        """
        SELECT count(pg_notify('\(self.changesChannel)', changes)) FROM (
            SELECT json_agg(json_build_object('id', id, 'status', status, 'progress', progress,
                'step', left(current_step, 200), 'at', extract(epoch FROM updated_at)))::text AS changes
            FROM (SELECT *, (row_number() OVER () - 1) / 40 AS chunk FROM \(relation)) AS numbered GROUP BY chunk) AS batches
        """
    }
}
