import Foundation
import LibPQ

/// Every SQL statement of JobKit's job lifecycle, one method per operation.
///
/// The only place that writes `jobs` and `job_events`. Each status change goes through
/// ``transition(_:_:lease:set:where:event:)``, which applies the move only when the row's current
/// status is one ``JobTransitions`` allows, all in one statement.
struct JobStore: Sendable {
    let pool: PostgresConnectionPool
    let schema: String
    /// `schema.jobs`
    let jobs: String
    /// `schema.job_events`
    let events: String
    /// `schema.job_status`
    let statusType: String
    /// The channel that carries every status and progress change (JSON payloads).
    let changesChannel: String
    /// The channel that carries cancellation requests (job ids).
    let cancelChannel: String

    init(pool: PostgresConnectionPool, schema: String) {
        self.pool = pool
        self.schema = schema
        self.jobs = "\(schema).jobs"
        self.events = "\(schema).job_events"
        self.statusType = "\(schema).job_status"
        self.changesChannel = "\(schema)_changes"
        self.cancelChannel = "\(schema)_cancel"
    }

    // MARK: - Columns

    /// The columns a ``Job`` is read from, in the order ``job(from:at:)`` expects.
    static func columns(_ prefix: String = "") -> String {
        """
        \(prefix)id, \(prefix)queue, \(prefix)job_type, \(prefix)status::text AS status, \(prefix)priority::int4 AS priority, \
        \(prefix)payload::text AS payload, \(prefix)result::text AS result, \(prefix)error_message, \(prefix)attempt, \
        \(prefix)max_attempts, \(prefix)progress::int4 AS progress, \(prefix)current_step, \(prefix)reference_type, \
        \(prefix)reference_id, \(prefix)unique_key, \(prefix)run_at, \(prefix)created_at, \(prefix)started_at, \
        \(prefix)finished_at, \(prefix)updated_at, \(prefix)timeout_ms, \(prefix)lease_owner, \(prefix)lease_token, \
        \(prefix)lease_expires_at, \(prefix)cancel_requested_at, \(prefix)concurrency_key, \(prefix)trace_context::text AS trace_context
        """
    }

    static let columnCount = 27

    /// Reads a job from the columns of ``columns(_:)`` starting at `offset`.
    static func job(from row: PostgresRow, at offset: Int = 0) throws -> Job {
        func value<T: PostgresDecodable>(_ index: Int, _ type: T.Type = T.self) throws -> T {
            try row.decode(type, at: offset + index)
        }
        let statusText: String = try value(3)
        guard let status = JobStatus(rawValue: statusText) else {
            throw JobError.invalidArgument("unknown job status \(statusText)")
        }
        let referenceType: String? = try value(12)
        let referenceID: String? = try value(13)
        let timeout: Int64? = try value(20)
        let leaseOwner: String? = try value(21)
        let leaseToken: UUID? = try value(22)
        let leaseExpiry: Date? = try value(23)
        var lease: JobLease?
        if let leaseToken, let leaseExpiry {
            lease = JobLease(owner: leaseOwner ?? "", token: leaseToken, expiresAt: leaseExpiry)
        }
        return Job(
            id: try value(0),
            queue: try value(1),
            type: try value(2),
            status: status,
            priority: try value(4),
            payloadJSON: try value(5),
            resultJSON: try value(6),
            errorMessage: try value(7),
            attempt: try value(8),
            maxAttempts: try value(9),
            progress: try value(10),
            currentStep: try value(11),
            reference: referenceType.flatMap { type in referenceID.map { JobReference(type, $0) } },
            uniqueKey: try value(14),
            runAt: try value(15),
            createdAt: try value(16),
            startedAt: try value(17),
            finishedAt: try value(18),
            updatedAt: try value(19),
            timeout: timeout.map { .milliseconds($0) },
            lease: lease,
            cancelRequestedAt: try value(24),
            concurrencyKey: try value(25),
            traceContextJSON: try value(26))
    }

    // MARK: - Creating

    /// What a new row holds.
    struct NewJob: Sendable {
        var id: UUID
        var type: String
        var payloadJSON: String
        var options: JobOptions
        /// The enqueuing span's context, as ``JobTracing/carrierJSON(of:)`` writes it.
        var traceContextJSON: String?
    }

    private func values(_ new: NewJob) -> PostgresQuery {
        let options = new.options
        let timeout = options.timeout.map { Int($0.milliseconds) }
        let query: PostgresQuery = """
            \(new.id), \(options.queue), \(new.type), \(options.priority)::int2, \(new.payloadJSON)::jsonb, \(options.maxAttempts ?? 1)::int4, \
            \(options.reference?.type), \(options.reference?.id), \(options.uniqueKey), COALESCE(\(options.runAt), now()), \
            \(timeout), \(options.concurrencyKey), \(new.traceContextJSON)::jsonb
            """
        return query
    }

    private static let insertColumns =
        "id, queue, job_type, priority, payload, max_attempts, reference_type, reference_id, unique_key, run_at, timeout_ms, concurrency_key, trace_context"

    /// The predicate of `jobs_unique_key_idx`: a key counts while its job is in one of its states.
    static let uniqueKeyHeld = "unique_key IS NOT NULL AND (unique_states IS NULL OR status = ANY (unique_states))"

    /// Inserts a `scheduled` job.
    /// - Throws: ``JobError/Code/duplicate`` when its unique key is taken.
    func insert(_ new: NewJob) async throws -> Job {
        var query: PostgresQuery = "INSERT INTO \(unescaped: self.jobs) (\(unescaped: Self.insertColumns)) VALUES ("
        query.append(self.values(new))
        query.append(") RETURNING \(unescaped: Self.columns())")
        return try await self.insertReturning(query.named("jobs.insert"), uniqueKey: new.options.uniqueKey)
    }

    /// Inserts a job that is already `in_progress` under `lease`: `runAsJob`'s one round trip to start.
    func insertStarted(_ new: NewJob, lease: JobLease, leaseDuration: Duration) async throws -> Job {
        var query: PostgresQuery = """
            INSERT INTO \(unescaped: self.jobs) (\(unescaped: Self.insertColumns), status, attempt, started_at, lease_owner, lease_token, lease_expires_at) VALUES (
            """
        query.append(self.values(new))
        query.append("""
            , 'in_progress', 1, now(), \(lease.owner), \(lease.token), now() + \(leaseDuration.milliseconds) * interval '1 millisecond') \
            RETURNING \(unescaped: Self.columns())
            """)
        return try await self.insertReturning(query.named("jobs.insertStarted"), uniqueKey: new.options.uniqueKey)
    }

    private func insertReturning(_ query: PostgresQuery, uniqueKey: String?) async throws -> Job {
        do {
            let rows = try await self.pool.query(query)
            return try Self.job(from: try self.single(rows))
        } catch let error as PostgresError where error.sqlState == .uniqueViolation && uniqueKey != nil {
            throw JobError.duplicate(uniqueKey: uniqueKey ?? "")
        }
    }

    /// Inserts the job unless one with its unique key exists; either way returns the row.
    func insertOrGet(_ new: NewJob, uniqueKey: String) async throws -> (job: Job, created: Bool) {
        var query: PostgresQuery = "INSERT INTO \(unescaped: self.jobs) (\(unescaped: Self.insertColumns)) VALUES ("
        query.append(self.values(new))
        query.append(") ON CONFLICT (unique_key) WHERE \(unescaped: Self.uniqueKeyHeld) DO NOTHING RETURNING \(unescaped: Self.columns())")
        if let row = try await self.pool.query(query.named("jobs.insertOrGet")).first {
            return (try Self.job(from: row), true)
        }
        // The conflicting row is committed (ON CONFLICT waited for it); a new statement sees it.
        let rows = try await self.pool.query(
            "SELECT \(unescaped: Self.columns()) FROM \(unescaped: self.jobs) WHERE unique_key = \(uniqueKey) AND \(unescaped: Self.uniqueKeyHeld)")
        guard let row = rows.first else {
            // It was deleted in between: insert again.
            return try await self.insertOrGet(new, uniqueKey: uniqueKey)
        }
        return (try Self.job(from: row), false)
    }

    // MARK: - Reading

    func job(_ id: UUID) async throws -> Job? {
        let rows = try await self.run("jobs.get", "SELECT \(unescaped: Self.columns()) FROM \(unescaped: self.jobs) WHERE id = \(id)")
        return try rows.first.map { try Self.job(from: $0) }
    }

    func job(uniqueKey: String) async throws -> Job? {
        let rows = try await self.pool.query(
            "SELECT \(unescaped: Self.columns()) FROM \(unescaped: self.jobs) WHERE unique_key = \(uniqueKey) AND \(unescaped: Self.uniqueKeyHeld)")
        return try rows.first.map { try Self.job(from: $0) }
    }

    /// Locks the row (`FOR UPDATE`) on a connection inside a transaction.
    func lockedJob(_ id: UUID, on connection: PostgresConnection) async throws -> Job? {
        let query: PostgresQuery = "SELECT \(unescaped: Self.columns()) FROM \(unescaped: self.jobs) WHERE id = \(id) FOR UPDATE"
        let rows = try await connection.query(query.named("jobs.lock"))
        return try rows.first.map { try Self.job(from: $0) }
    }

    /// Newest first, with keyset pagination on the (time-ordered) id.
    func list(_ filter: JobFilter, limit: Int, after cursor: UUID?) async throws -> [Job] {
        let query: PostgresQuery = """
            SELECT \(unescaped: Self.columns()) FROM \(unescaped: self.jobs)
            WHERE (\(filter.statuses?.map(\.rawValue))::text[] IS NULL OR status::text = ANY(\(filter.statuses?.map(\.rawValue))))
              AND (\(filter.types)::text[] IS NULL OR job_type = ANY(\(filter.types)))
              AND (\(filter.queues)::text[] IS NULL OR queue = ANY(\(filter.queues)))
              AND (\(filter.reference?.type)::text IS NULL OR (reference_type = \(filter.reference?.type) AND reference_id = \(filter.reference?.id)))
              AND (\(filter.createdAfter)::timestamptz IS NULL OR created_at >= \(filter.createdAfter))
              AND (\(filter.createdBefore)::timestamptz IS NULL OR created_at < \(filter.createdBefore))
              AND (\(cursor)::uuid IS NULL OR id < \(cursor))
            ORDER BY id DESC
            LIMIT \(limit)
            """
        return try await self.pool.query(query.named("jobs.list")).map { try Self.job(from: $0) }
    }

    func history(_ id: UUID) async throws -> [JobEvent] {
        let rows = try await self.run("jobs.history", """
            SELECT id, job_id, at, kind, from_status::text, to_status::text, message, actor, attempt
            FROM \(unescaped: self.events) WHERE job_id = \(id) ORDER BY id
            """)
        return try rows.map { row in
            let (eventID, jobID, at, kind, from, to, message, actor, attempt) =
                try row.decode((Int, UUID, Date, String, String?, String?, String?, String?, Int?).self)
            return JobEvent(
                id: eventID, jobID: jobID, at: at, kind: kind,
                fromStatus: from.flatMap(JobStatus.init(rawValue:)), toStatus: to.flatMap(JobStatus.init(rawValue:)),
                message: message, actor: actor, attempt: attempt)
        }
    }

    // MARK: - Changing status

    /// A history entry to write with a change.
    struct EventRecord: Sendable {
        var kind: String
        var message: String?
        var actor: String?
    }

    /// Applies `move` to a job in one statement: only when its current status is one the
    /// transition table allows (and, with `lease`, only while that lease is the job's), setting
    /// `status`, `updated_at` and the given columns, writing the history entry, and notifying
    /// watchers. Returns the changed row.
    ///
    /// - Parameters:
    ///   - assignments: Further `SET` items, each starting with `, ` (columns of `j`).
    ///   - condition: A further `WHERE` condition starting with ` AND ` (`j` is the row, `prev` its old values).
    /// - Throws: ``JobError`` `.notFound`, `.illegalTransition` (naming the current status), `.leaseLost`.
    func transition(
        _ id: UUID,
        _ move: JobTransitions.Move,
        lease: UUID? = nil,
        set assignments: PostgresQuery = "",
        where condition: PostgresQuery = "",
        event: EventRecord? = nil
    ) async throws -> Job {
        let target = JobTransitions.target(of: move)
        let sources = JobTransitions.sources(of: move).map(\.rawValue).sorted()
        var query: PostgresQuery = """
            WITH prev AS (SELECT id, status, lease_token FROM \(unescaped: self.jobs) WHERE id = \(id) FOR UPDATE),
            upd AS (UPDATE \(unescaped: self.jobs) AS j SET status = \(target.rawValue)::text::\(unescaped: self.statusType), updated_at = now()
            """
        // A job started by hand holds no key slot (see ``claimLimited(queue:limit:owner:leaseDuration:)``).
        if target == .inProgress { query.append(", key_slot = NULL") }
        query.append(assignments)
        query.append(" FROM prev WHERE j.id = prev.id AND prev.status::text = ANY(\(sources))")
        if let lease { query.append(" AND j.lease_token = \(lease)") }
        query.append(condition)
        query.append(" RETURNING prev.status::text AS previous_status, \(unescaped: Self.columns("j.")))")
        if let event {
            query.append("""
                , ev AS (INSERT INTO \(unescaped: self.events) (job_id, kind, from_status, to_status, message, actor, attempt)
                SELECT id, \(event.kind), previous_status::\(unescaped: self.statusType), status::\(unescaped: self.statusType), \(event.message), \(event.actor), attempt FROM upd)
                """)
        }
        query.append("""
             SELECT prev.status::text, prev.lease_token, upd.*, CASE WHEN upd.id IS NOT NULL THEN \(unescaped: self.notifyChange("upd")) END
            FROM prev LEFT JOIN upd ON true
            """)
        let rows = try await self.pool.query(query.named("jobs.\(move.rawValue)"))
        guard let row = rows.first else { throw JobError.notFound(id) }
        guard row.isNull(at: 3) else { return try Self.job(from: row, at: 3) }
        let current = try JobStatus(rawValue: row.decode(String.self, at: 0)) ?? .scheduled
        let currentLease = try row.decode(UUID?.self, at: 1)
        if let lease, current == .inProgress || currentLease != nil, currentLease != lease {
            throw JobError.leaseLost(id: id)
        }
        throw JobError.illegalTransition(id: id, from: current, to: target)
    }

    /// `pg_notify` of one row's change, for the row alias `row` (which has `id`, `status`,
    /// `progress`, `current_step`, `updated_at`). The payload is a JSON array holding one
    /// ``JobUpdate``, the format of every change notification.
    func notifyChange(_ row: String) -> String {
        """
        pg_notify('\(self.changesChannel)', json_build_array(json_build_object('id', \(row).id, 'status', \(row).status, \
        'progress', \(row).progress, 'step', left(\(row).current_step, 200), \
        'at', extract(epoch FROM \(row).updated_at)))::text)
        """
    }

    // MARK: - Running jobs

    /// Records progress of a running job; returns whether its cancellation was requested.
    func progress(_ id: UUID, percent: Int, step: String?, lease: UUID?) async throws -> Bool {
        var query: PostgresQuery = """
            WITH upd AS (UPDATE \(unescaped: self.jobs) SET progress = \(percent)::int2, current_step = COALESCE(\(step), current_step), updated_at = now()
            WHERE id = \(id) AND status = 'in_progress'
            """
        if let lease { query.append(" AND lease_token = \(lease)") }
        query.append("""
             RETURNING id, status::text AS status, progress, current_step, updated_at, cancel_requested_at IS NOT NULL AS cancel_requested)
            SELECT cancel_requested, \(unescaped: self.notifyChange("upd")) FROM upd
            """)
        guard let row = try await self.pool.query(query.named("jobs.progress")).first else {
            throw try await self.diagnoseNotRunning(id, lease: lease)
        }
        return try row.decode(Bool.self, at: 0)
    }

    /// Extends a running job's lease; returns whether its cancellation was requested.
    func renewLease(_ id: UUID, lease: UUID, duration: Duration) async throws -> Bool {
        let rows = try await self.run("jobs.renewLease", """
            UPDATE \(unescaped: self.jobs) SET lease_expires_at = now() + \(duration.milliseconds) * interval '1 millisecond'
            WHERE id = \(id) AND status = 'in_progress' AND lease_token = \(lease)
            RETURNING cancel_requested_at IS NOT NULL
            """)
        guard let row = rows.first else { throw JobError.leaseLost(id: id) }
        return try row.decode(Bool.self, at: 0)
    }

    /// Asks the runner of an `in_progress` job to stop; its runner moves it to `cancelled`.
    func requestCancel(_ id: UUID, reason: String?, actor: String?) async throws -> Job? {
        let rows = try await self.run("jobs.requestCancel", """
            WITH upd AS (UPDATE \(unescaped: self.jobs) SET cancel_requested_at = COALESCE(cancel_requested_at, now()), updated_at = now()
                WHERE id = \(id) AND status = 'in_progress' RETURNING \(unescaped: Self.columns())),
            ev AS (INSERT INTO \(unescaped: self.events) (job_id, kind, from_status, to_status, message, actor, attempt)
                SELECT id, 'cancel_requested', 'in_progress', 'in_progress', \(reason), \(actor), attempt FROM upd)
            SELECT upd.*, pg_notify(\(self.cancelChannel), upd.id::text) FROM upd
            """)
        return try rows.first.map { try Self.job(from: $0) }
    }

    /// Why a running-job statement matched nothing.
    private func diagnoseNotRunning(_ id: UUID, lease: UUID?) async throws -> JobError {
        guard let job = try await self.job(id) else { return .notFound(id) }
        if let lease, job.lease?.token != lease { return .leaseLost(id: id) }
        return .illegalTransition(id: id, from: job.status, to: .inProgress)
    }

    // MARK: - Retention

    /// Deletes finished jobs older than `age` in batches; returns how many it deleted.
    func deleteFinished(olderThan age: Duration, statuses: [JobStatus], batchSize: Int) async throws -> Int {
        var total = 0
        while true {
            let rows = try await self.run("jobs.deleteFinished", """
                DELETE FROM \(unescaped: self.jobs) WHERE id IN (
                    SELECT id FROM \(unescaped: self.jobs)
                    WHERE finished_at < now() - \(age.milliseconds) * interval '1 millisecond' AND status::text = ANY(\(statuses.map(\.rawValue)))
                    LIMIT \(batchSize) FOR UPDATE SKIP LOCKED)
                """)
            total += rows.affectedRows
            if rows.affectedRows < batchSize { return total }
        }
    }

    /// Runs a statement under a name (reported in errors and logs).
    @discardableResult
    func run(_ name: String, _ query: PostgresQuery) async throws -> PostgresRows {
        try await self.pool.query(query.named(name))
    }

    /// Runs `statements` in one implicit transaction, sent in one round trip (a pipeline), each
    /// with its generic plan; returns each one's rows, or throws the first failure.
    ///
    /// For the hot-path statements whose best plan does not depend on their values. Left to
    /// choose, PostgreSQL plans a prepared statement afresh for each call's values whenever that
    /// plan's estimate beats the generic one's, which an array parameter shorter than ten (the
    /// generic plan's guess) or a `LIMIT` parameter is enough for; measured on workload B with a
    /// key limit: the finish planned on every call (0.25 ms, for 0.29 ms of execution), the
    /// limited claim on about every other one (0.7 ms), for plans no better. The setting is the
    /// transaction's own (`set_config(…, true)`), so it ends with the pipeline. Without the
    /// statement cache every call is planned anyway, best for its own values: no setting then.
    func runWithGenericPlans(_ statements: [PostgresQuery]) async throws -> [PostgresRows] {
        var pipeline = statements
        let generic = self.pool.connectionConfiguration.statementCacheCapacity > 0
        if generic {
            let setting: PostgresQuery = "SELECT set_config('plan_cache_mode', 'force_generic_plan', true)"
            pipeline.insert(setting.named("plans.generic"), at: 0)
        }
        let outcomes = try await self.pool.withConnection { connection in
            try await connection.pipeline(pipeline)
        }
        return try outcomes.dropFirst(generic ? 1 : 0).map { try $0.get() }
    }

    private func single(_ rows: PostgresRows) throws -> PostgresRow {
        guard let row = rows.first else {
            throw PostgresError(code: .protocolViolation, message: "the statement returned no row")
        }
        return row
    }
}

extension Duration {
    /// The duration in whole milliseconds, rounded down; saturates instead of overflowing.
    var milliseconds: Int64 {
        let (whole, overflow) = self.components.seconds.multipliedReportingOverflow(by: 1000)
        guard !overflow else { return self.components.seconds < 0 ? .min : .max }
        let (total, overflowAgain) = whole.addingReportingOverflow(self.components.attoseconds / 1_000_000_000_000_000)
        return overflowAgain ? .max : total
    }
}
