import Foundation
import LibPQ

/// The work queue's statements: enqueue, claim, finish, renew, rescue.
extension JobStore {
    /// The channel that wakes idle executors; the payload is the queue's name.
    var enqueuedChannel: String { "\(self.schema)_enqueued" }

    // MARK: - Enqueue

    /// Inserts `scheduled` jobs and wakes the executors of their queues, on `connection` (the
    /// caller's transaction) or in a transaction of its own; returns each job's id, which for a
    /// unique job whose equal exists is the existing job's (``UniqueJob/Conflict``).
    ///
    /// Large sets without unique keys or run-at times go through `COPY`; the rest through one
    /// `INSERT … SELECT FROM unnest(…)`. All jobs of one call share their options.
    func enqueue(_ jobs: [NewJob], on connection: PostgresConnection?) async throws -> [UUID] {
        guard !jobs.isEmpty else { return [] }
        if let connection {
            return try await self.enqueue(jobs, connection: connection)
        } else if jobs.count == 1 {
            return try await self.pool.withConnection { try await self.enqueue(jobs, connection: $0) }
        } else {
            return try await self.pool.withTransaction { try await self.enqueue(jobs, connection: $0) }
        }
    }

    private func enqueue(_ jobs: [NewJob], connection: PostgresConnection) async throws -> [UUID] {
        let queues = Array(Set(jobs.map(\.options.queue))).sorted()
        let usesCopy = jobs.count >= 64
            && jobs.allSatisfy { $0.options.uniqueKey == nil && $0.options.unique == nil && $0.options.runAt == nil }
        do {
            if usesCopy {
                var rows = PostgresCopyRows()
                for job in jobs {
                    let options = job.options
                    rows.append(
                        job.id, options.queue, job.type, Int16(options.priority), job.payloadJSON, options.maxAttempts ?? 1,
                        options.reference?.type, options.reference?.id, options.timeout.map { Int($0.milliseconds) },
                        options.concurrencyKey, job.traceContextJSON)
                }
                try await connection.copyFrom("""
                    COPY \(self.jobs) (id, queue, job_type, priority, payload, max_attempts, reference_type, reference_id, timeout_ms, \
                    concurrency_key, trace_context) FROM STDIN
                    """, rows: rows)
                let notify: PostgresQuery = "SELECT pg_notify(\(self.enqueuedChannel), q) FROM unnest(\(queues)) AS q"
                try await connection.query(notify.named("jobs.enqueueNotify"))
                return jobs.map(\.id)
            }
            return try await self.insertMany(jobs, notifying: queues, on: connection)
        } catch let error as PostgresError where error.sqlState == .uniqueViolation {
            // The detail reads `Key (unique_key)=(…) already exists.`
            let key = error.detail.flatMap { detail in
                detail.range(of: ")=(").flatMap { start in
                    detail.range(of: ") already exists", range: start.upperBound..<detail.endIndex).map { String(detail[start.upperBound..<$0.lowerBound]) }
                }
            }
            throw JobError.duplicate(uniqueKey: key ?? jobs.compactMap(\.options.uniqueKey).first ?? "")
        }
    }

    /// One `INSERT … SELECT FROM unnest(…)`; unique jobs' keys are made in SQL from their
    /// material and the database clock's time bucket, and a conflict is resolved by their
    /// ``UniqueJob/Conflict``. Returns the id each input row ended up as.
    private func insertMany(_ jobs: [NewJob], notifying queues: [String], on connection: PostgresConnection) async throws -> [UUID] {
        let options = jobs.map(\.options)
        // One call shares its options, so one conflict rule and one period.
        let unique = options[0].unique
        var materials: [String?] = []
        materials.reserveCapacity(jobs.count)
        for job in jobs {
            materials.append(try unique?.material(type: job.type, queue: job.options.queue, payloadJSON: job.payloadJSON))
        }
        // Equal jobs within the call become one: the first; the others get its id.
        var firstOfMaterial: [String: Int] = [:]
        var representative: [Int] = []
        var inserted: [Int] = []
        for (index, material) in materials.enumerated() {
            if let material, let first = firstOfMaterial[material] {
                representative.append(first)
            } else {
                if let material { firstOfMaterial[material] = index }
                representative.append(index)
                inserted.append(index)
            }
        }
        let rows = inserted.map { jobs[$0] }
        let rowOptions = rows.map(\.options)
        let rowMaterials = inserted.map { materials[$0] }
        let periodMilliseconds = unique?.period.map { Int($0.milliseconds) }
        // One row binds scalars, so the statement has no array parameter and each connection
        // prepares it once (see LibPQ's StatementCache); more rows bind an array per column.
        let source: PostgresQuery
        if rows.count == 1, let row = rows.first, let option = rowOptions.first {
            source = """
                FROM (SELECT \(row.id) AS id, \(option.queue) AS queue, \(row.type) AS job_type, \(Int16(option.priority)) AS priority,
                    \(row.payloadJSON) AS payload, \(Int32(option.maxAttempts ?? 1)) AS max_attempts, \(option.reference?.type) AS reference_type,
                    \(option.reference?.id) AS reference_id, \(option.uniqueKey) AS unique_key, \(option.runAt) AS run_at,
                    \(option.timeout.map { Int($0.milliseconds) }) AS timeout_ms, \(option.concurrencyKey) AS concurrency_key,
                    \(rowMaterials[0]) AS material, \(row.traceContextJSON) AS trace_context, 1::int8 AS ordinal) AS u
                """
        } else {
            source = """
                FROM unnest(\(rows.map(\.id)), \(rowOptions.map(\.queue)), \(rows.map(\.type)), \(rowOptions.map { Int16($0.priority) }),
                            \(rows.map(\.payloadJSON)), \(rowOptions.map { Int32($0.maxAttempts ?? 1) }), \(rowOptions.map(\.reference?.type)),
                            \(rowOptions.map(\.reference?.id)), \(rowOptions.map(\.uniqueKey)), \(rowOptions.map(\.runAt)),
                            \(rowOptions.map { $0.timeout.map { Int($0.milliseconds) } }), \(rowOptions.map(\.concurrencyKey)), \(rowMaterials),
                            \(rows.map(\.traceContextJSON)))
                    WITH ORDINALITY AS u(id, queue, job_type, priority, payload, max_attempts, reference_type, reference_id, unique_key, run_at,
                         timeout_ms, concurrency_key, material, trace_context, ordinal)
                """
        }
        let notifyCount: PostgresQuery = queues.count == 1
            ? "(SELECT count(pg_notify(\(self.enqueuedChannel), \(queues[0]))))"
            : "(SELECT count(pg_notify(\(self.enqueuedChannel), q)) FROM unnest(\(queues)) AS q)"
        var query: PostgresQuery = """
            WITH input AS (
                SELECT u.*, CASE WHEN u.material IS NULL THEN u.unique_key
                    ELSE 'unique:' || md5(u.material || COALESCE('|' || floor(extract(epoch FROM now()) * 1000 / \(periodMilliseconds)::int8)::int8::text, ''))
                    END AS key

            """
        query.append(source)
        query.append("""
            ),
            ins AS (
                INSERT INTO \(unescaped: self.jobs) AS j (id, queue, job_type, priority, payload, max_attempts, reference_type, reference_id,
                    unique_key, run_at, timeout_ms, concurrency_key, unique_states, trace_context)
                SELECT id, queue, job_type, priority, payload::jsonb, max_attempts, reference_type, reference_id,
                    key, COALESCE(run_at, now()), timeout_ms, concurrency_key, \(unique?.statesLiteral)::\(unescaped: self.statusType)[],
                    trace_context::jsonb
                FROM input ORDER BY ordinal
            """)
        switch unique?.onConflict {
        case nil, .fail?:
            break
        case .returnExisting?:
            query.append(" ON CONFLICT (unique_key) WHERE \(unescaped: Self.uniqueKeyHeld) DO UPDATE SET unique_key = EXCLUDED.unique_key")
        case .replace?:
            query.append("""
                 ON CONFLICT (unique_key) WHERE \(unescaped: Self.uniqueKeyHeld) DO UPDATE SET
                    payload = CASE WHEN j.status = 'scheduled' THEN EXCLUDED.payload ELSE j.payload END,
                    run_at = CASE WHEN j.status = 'scheduled' THEN EXCLUDED.run_at ELSE j.run_at END,
                    priority = CASE WHEN j.status = 'scheduled' THEN EXCLUDED.priority ELSE j.priority END,
                    updated_at = CASE WHEN j.status = 'scheduled' THEN now() ELSE j.updated_at END
                """)
        }
        query.append("""
                 RETURNING j.id, j.unique_key)
            SELECT COALESCE(by_id.id, by_key.id),
            """)
        query.append(notifyCount)
        query.append("""

            FROM input
            LEFT JOIN ins AS by_id ON by_id.id = input.id
            LEFT JOIN ins AS by_key ON input.material IS NOT NULL AND by_key.unique_key = input.key
            ORDER BY input.ordinal
            """)
        let ids = try await connection.query(query.named("jobs.enqueue")).map { try $0.decode(UUID?.self, at: 0) }
        guard ids.count == rows.count, !ids.contains(nil) else {
            throw PostgresError(code: .protocolViolation, message: "enqueue returned \(ids.count) ids for \(rows.count) jobs")
        }
        var position: [Int: Int] = [:]
        for (row, index) in inserted.enumerated() { position[index] = row }
        return representative.map { ids[position[$0] ?? 0] ?? rows[0].id }
    }

    // MARK: - Claim

    /// Claims up to `limit` runnable jobs of `queues` for `owner`, highest priority and oldest
    /// first, skipping rows other executors hold: `scheduled → in_progress` under new leases.
    /// Paused queues and queues with limits are left out: the latter are claimed by
    /// ``claimLimited(queue:limit:owner:leaseDuration:)``.
    ///
    /// Claims and finishes send no change notifications: on the hot path each NOTIFY wakes
    /// every listening connection of the database (measured: twice the transactions per job).
    /// Observers of queued jobs see their changes at their next poll.
    func claim(queues: [String], limit: Int, owner: String, leaseDuration: Duration) async throws -> [Job] {
        precondition(JobTransitions.allows(.start, from: .scheduled))
        // Queues that are paused or limited are left out before the scan, not row by row: one
        // queue's test is a one-time filter, several queues' a list made once.
        let queueCondition: PostgresQuery = queues.count == 1
            ? " queue = \(queues[0]) AND NOT EXISTS (SELECT FROM \(unescaped: self.queues) WHERE name = \(queues[0]) AND (\(unescaped: self.queueNeedsCare)))"
            : """
                 queue = ANY(ARRAY(SELECT q FROM unnest(\(queues)) AS q
                    WHERE NOT EXISTS (SELECT FROM \(unescaped: self.queues) WHERE name = q AND (\(unescaped: self.queueNeedsCare)))))
                """
        var query: PostgresQuery = """
            WITH claimed AS (
                UPDATE \(unescaped: self.jobs) AS j SET status = 'in_progress', attempt = j.attempt + 1, started_at = now(),
                    lease_owner = \(owner), lease_token = gen_random_uuid(),
                    lease_expires_at = now() + \(leaseDuration.milliseconds) * interval '1 millisecond',
                    progress = 0, current_step = NULL, cancel_requested_at = NULL, updated_at = now(), key_slot = NULL
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
            /// `snooze`: back to scheduled after `delay`; the attempt does not count.
            case snoozed
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
            case .snoozed: .snooze
            }
        }
    }

    /// Writes many outcomes in one statement; returns the ids it wrote. An outcome whose lease
    /// is no longer the job's changes nothing and is missing from the result.
    ///
    /// It locks its rows in id order before updating them, as ``renew(_:duration:)`` does: the
    /// two run at once in an executor and share rows, and in any other order they deadlock.
    /// The lock is a one-time filter of the update, so the update's own join (each outcome's
    /// row by primary key) is free to take any order.
    ///
    /// Prepared although its parameters are arrays: whatever plan PostgreSQL settles on finds
    /// each outcome's row through the primary key or one hash join, so a generic plan made for
    /// ten outcomes still fits a thousand (a nested loop rescanning the outcomes would not).
    /// It runs that generic plan on every call (``runWithGenericPlans(_:)``).
    func finish(_ outcomes: [Outcome]) async throws -> Set<UUID> {
        guard !outcomes.isEmpty else { return [] }
        // Every outcome's move leaves from in_progress only (the transition table says so).
        let sources = outcomes.reduce(Set(JobStatus.allCases)) { $0.intersection(JobTransitions.sources(of: $1.move)) }
        let query: PostgresQuery = """
            WITH o AS (
                SELECT * FROM unnest(\(outcomes.map(\.id)), \(outcomes.map(\.lease)), \(outcomes.map(\.kind.rawValue)),
                                     \(outcomes.map(\.resultJSON)), \(outcomes.map(\.error)), \(outcomes.map { Int($0.delay.milliseconds) }))
                    AS o(id, token, kind, result, error, delay_ms)),
            locked AS MATERIALIZED (
                SELECT id FROM \(unescaped: self.jobs) WHERE id = ANY(\(outcomes.map(\.id))) ORDER BY id FOR UPDATE),
            fin AS (
                UPDATE \(unescaped: self.jobs) AS j SET
                    status = (CASE o.kind WHEN 'done' THEN 'done' WHEN 'failed' THEN 'failed' WHEN 'cancelled' THEN 'cancelled' ELSE 'scheduled' END)::\(unescaped: self.statusType),
                    result = CASE WHEN o.kind = 'done' THEN o.result::jsonb ELSE j.result END,
                    error_message = CASE WHEN o.kind = 'snoozed' THEN j.error_message ELSE COALESCE(o.error, j.error_message) END,
                    progress = CASE WHEN o.kind = 'done' THEN 100 WHEN o.kind IN ('retry', 'released', 'snoozed') THEN 0 ELSE j.progress END,
                    finished_at = CASE WHEN o.kind IN ('done', 'failed', 'cancelled') THEN now() END,
                    run_at = CASE WHEN o.kind IN ('retry', 'released', 'snoozed') THEN now() + o.delay_ms * interval '1 millisecond' ELSE j.run_at END,
                    attempt = CASE WHEN o.kind IN ('released', 'snoozed') THEN j.attempt - 1 ELSE j.attempt END,
                    lease_token = NULL, lease_expires_at = NULL, updated_at = now()
                FROM o
                WHERE j.id = o.id AND j.lease_token = o.token AND j.status::text = ANY(\(sources.map(\.rawValue)))
                    AND (SELECT count(*) FROM locked) >= 0
                RETURNING j.id, j.status, j.progress, j.current_step, j.updated_at, j.attempt, o.kind, o.error),
            ev AS (
                INSERT INTO \(unescaped: self.events) (job_id, kind, from_status, to_status, message, attempt)
                SELECT id, CASE kind WHEN 'retry' THEN 'retry_scheduled' ELSE kind END, 'in_progress', status, error, attempt
                FROM fin WHERE kind <> 'done')
            SELECT fin.id FROM fin
            """
        let rows = try await self.runWithGenericPlans([query.named("jobs.finishMany").preparing(.always)])[0]
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
