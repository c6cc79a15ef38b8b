import Foundation
import LibPQ

/// Queue settings and the claim of a queue with limits: pause, resume, fleet-wide concurrency,
/// per-key concurrency and rate limits.
extension JobStore {
    var queues: String { "\(self.schema).queues" }

    /// The condition, on `name`, of a queue the plain claim must leave alone: paused, or with
    /// limits (those go through ``claimLimited(queue:limit:owner:leaseDuration:)``).
    var queueNeedsCare: String {
        "paused_at IS NOT NULL OR concurrency_limit IS NOT NULL OR key_limit IS NOT NULL OR rate_limit IS NOT NULL"
    }

    /// Pauses or resumes a queue (making its row if needed); a resume wakes the queue's executors.
    func setPaused(_ queue: String, _ paused: Bool) async throws {
        let query: PostgresQuery = """
            WITH upsert AS (
                INSERT INTO \(unescaped: self.queues) AS q (name, paused_at) VALUES (\(queue), CASE WHEN \(paused) THEN now() END)
                ON CONFLICT (name) DO UPDATE SET
                    paused_at = CASE WHEN \(paused) THEN COALESCE(q.paused_at, now()) END, updated_at = now()
                RETURNING 1)
            SELECT pg_notify(\(self.enqueuedChannel), \(queue)) FROM upsert
            """
        try await self.run("queues.setPaused", query)
    }

    /// Replaces a queue's limits (making its row if needed) and wakes its executors.
    func configure(_ queue: String, _ settings: QueueSettings) async throws {
        let rate = settings.rateLimit
        let query: PostgresQuery = """
            WITH upsert AS (
                INSERT INTO \(unescaped: self.queues) AS q (name, concurrency_limit, key_limit, rate_limit, rate_period_ms)
                VALUES (\(queue), \(settings.concurrencyLimit), \(settings.keyLimit), \(rate?.count), \(rate.map { Int($0.period.milliseconds) }))
                ON CONFLICT (name) DO UPDATE SET
                    concurrency_limit = EXCLUDED.concurrency_limit, key_limit = EXCLUDED.key_limit,
                    rate_limit = EXCLUDED.rate_limit, rate_period_ms = EXCLUDED.rate_period_ms,
                    rate_window_started_at = NULL, rate_window_count = 0, updated_at = now()
                RETURNING 1)
            SELECT pg_notify(\(self.enqueuedChannel), \(queue)) FROM upsert
            """
        try await self.run("queues.configure", query)
    }

    /// Every queue with settings or with waiting or running jobs, by name.
    func queueStates() async throws -> [QueueState] {
        let query: PostgresQuery = """
            WITH counts AS (
                SELECT queue, status, sum(n) AS n FROM (
                    SELECT queue, status, n FROM \(unescaped: self.schema).job_counts
                    UNION ALL SELECT queue, status, delta FROM \(unescaped: self.schema).job_count_changes) AS parts
                WHERE status IN ('scheduled', 'in_progress') GROUP BY 1, 2 HAVING sum(n) <> 0),
            names AS (SELECT name FROM \(unescaped: self.queues) UNION SELECT queue FROM counts)
            SELECT names.name, q.paused_at, q.concurrency_limit, q.key_limit, q.rate_limit, q.rate_period_ms,
                COALESCE((SELECT n FROM counts WHERE queue = names.name AND status = 'scheduled'), 0)::int8,
                COALESCE((SELECT n FROM counts WHERE queue = names.name AND status = 'in_progress'), 0)::int8
            FROM names LEFT JOIN \(unescaped: self.queues) AS q ON q.name = names.name
            ORDER BY names.name
            """
        return try await self.run("queues.list", query).map { row in
            let (name, pausedAt, concurrency, keyLimit, rateCount, ratePeriod, scheduled, running) =
                try row.decode((String, Date?, Int?, Int?, Int?, Int?, Int, Int).self)
            let rate = rateCount.flatMap { count in ratePeriod.map { QueueSettings.RateLimit(count, per: .milliseconds($0)) } }
            return QueueState(
                name: name, pausedAt: pausedAt, settings: QueueSettings(concurrencyLimit: concurrency, keyLimit: keyLimit, rateLimit: rate),
                scheduled: scheduled, inProgress: running)
        }
    }

    /// Of `queues`, those running with limits: the ones the plain claim leaves to
    /// ``claimLimited(queue:limit:owner:leaseDuration:)``.
    func limitedQueues(among queues: [String]) async throws -> [String] {
        let query: PostgresQuery = """
            SELECT name FROM \(unescaped: self.queues) WHERE name = ANY(\(queues)) AND paused_at IS NULL
                AND (concurrency_limit IS NOT NULL OR key_limit IS NOT NULL OR rate_limit IS NOT NULL)
            ORDER BY name
            """
        return try await self.run("queues.limited", query).map { try $0.decode(String.self, at: 0) }
    }

    /// Claims up to `limit` jobs of one queue within its fleet-wide limits.
    ///
    /// Two statements in one transaction, sent in one round trip (a pipeline): the first locks
    /// the queue's row, so claims of this queue take turns across the fleet; the second starts
    /// once the lock is held, so its snapshot sees every claim committed before, and it counts
    /// running jobs (per queue and per key) and the rate window without a lost update. Jobs
    /// whose key is at its limit are skipped, not waited for.
    ///
    /// The queue's running jobs are counted only up to its concurrency limit, and not at all
    /// without one: a `LIMIT` keeps that count a plain index scan, which marks the index
    /// entries of finished jobs dead as it passes them (a bitmap scan would visit every one of
    /// them on every claim until the next vacuum).
    ///
    /// Free keys are looked for in a window of runnable jobs in claim order, read without locks
    /// (only the chosen rows are locked). Jobs whose key is already at its limit are passed over
    /// by the scan, so a key with a long backlog hides no other key, at the price of reading
    /// that backlog on every claim. The window holds the first `max(2 × limit, 8)` of the
    /// others; when it was full yet yielded too few (several jobs of one key), a wide one
    /// (`max(20 × limit, 2000)` jobs) is read.
    func claimLimited(queue: String, limit: Int, owner: String, leaseDuration: Duration) async throws -> [Job] {
        let narrow = max(limit * 2, 8)
        let first = try await self.claimLimited(queue: queue, limit: limit, window: narrow, owner: owner, leaseDuration: leaseDuration)
        guard first.jobs.count < first.allowed, first.windowRows == narrow else { return first.jobs }
        let wide = try await self.claimLimited(
            queue: queue, limit: first.allowed - first.jobs.count, window: max(limit * 20, 2000), owner: owner, leaseDuration: leaseDuration)
        return first.jobs + wide.jobs
    }

    /// The row lock and the claim statement of a limited queue, pipelined in one transaction.
    ///
    /// The claim runs its generic plan, made once per connection: left to choose, PostgreSQL
    /// plans about every other call afresh for its values (measured: 0.7 ms of planning for
    /// 0.45 ms of execution), and the plan it makes is no better. The setting is the
    /// transaction's own (`set_config(…, true)`), so it ends with the pipeline. Without the
    /// statement cache every call is planned anyway, best for its own values: no setting then.
    private func claimLimited(
        queue: String, limit: Int, window: Int, owner: String, leaseDuration: Duration
    ) async throws -> (jobs: [Job], allowed: Int, windowRows: Int) {
        let genericPlan: PostgresQuery = "SELECT set_config('plan_cache_mode', 'force_generic_plan', true)"
        let lock: PostgresQuery = "SELECT FROM \(unescaped: self.queues) WHERE name = \(queue) FOR UPDATE"
        let query: PostgresQuery = """
            WITH settings AS (SELECT * FROM \(unescaped: self.queues) WHERE name = \(queue) AND paused_at IS NULL),
            running AS (
                SELECT count(*) AS n FROM (
                    SELECT FROM \(unescaped: self.jobs) WHERE status = 'in_progress' AND queue = \(queue)
                    LIMIT COALESCE((SELECT concurrency_limit FROM settings), 0)) AS counted),
            key_running AS (
                SELECT concurrency_key, count(*) AS n FROM \(unescaped: self.jobs)
                WHERE status = 'in_progress' AND queue = \(queue) AND concurrency_key IS NOT NULL GROUP BY 1),
            window_open AS (
                SELECT rate_window_started_at IS NOT NULL AND rate_window_started_at + rate_period_ms * interval '1 millisecond' > now() AS open
                FROM settings),
            allowed AS (
                SELECT greatest(0, least(\(limit),
                    COALESCE(s.concurrency_limit - (SELECT n FROM running), \(limit)),
                    COALESCE(s.rate_limit - CASE WHEN (SELECT open FROM window_open) THEN s.rate_window_count ELSE 0 END, \(limit)))) AS n
                FROM settings AS s),
            candidates AS (
                SELECT id, priority, run_at, concurrency_key FROM \(unescaped: self.jobs)
                WHERE status = 'scheduled' AND queue = \(queue) AND run_at <= now()
                    AND (concurrency_key IS NULL OR (SELECT key_limit FROM settings) IS NULL OR concurrency_key NOT IN (
                        SELECT concurrency_key FROM key_running WHERE n >= (SELECT key_limit FROM settings)))
                ORDER BY priority, run_at LIMIT \(window)),
            ranked AS (
                SELECT c.id, c.priority, c.run_at, c.concurrency_key, COALESCE(k.n, 0) AS key_running,
                    row_number() OVER (PARTITION BY c.concurrency_key ORDER BY c.priority, c.run_at) AS nth
                FROM candidates AS c LEFT JOIN key_running AS k USING (concurrency_key)),
            chosen AS (
                SELECT id FROM ranked
                WHERE concurrency_key IS NULL OR (SELECT key_limit FROM settings) IS NULL OR key_running + nth <= (SELECT key_limit FROM settings)
                ORDER BY priority, run_at LIMIT COALESCE((SELECT n FROM allowed), 0)),
            locked AS (
                SELECT id FROM \(unescaped: self.jobs) WHERE id IN (SELECT id FROM chosen) AND status = 'scheduled'
                FOR UPDATE SKIP LOCKED),
            claimed AS (
                UPDATE \(unescaped: self.jobs) AS j SET status = 'in_progress', attempt = j.attempt + 1, started_at = now(),
                    lease_owner = \(owner), lease_token = gen_random_uuid(),
                    lease_expires_at = now() + \(leaseDuration.milliseconds) * interval '1 millisecond',
                    progress = 0, current_step = NULL, cancel_requested_at = NULL, updated_at = now()
                FROM locked WHERE j.id = locked.id
                RETURNING \(unescaped: Self.columns("j."))),
            counted AS (
                UPDATE \(unescaped: self.queues) SET
                    rate_window_started_at = CASE WHEN (SELECT open FROM window_open) THEN rate_window_started_at ELSE now() END,
                    rate_window_count = CASE WHEN (SELECT open FROM window_open) THEN rate_window_count ELSE 0 END + (SELECT count(*) FROM claimed)
                WHERE name = \(queue) AND rate_limit IS NOT NULL AND EXISTS (SELECT FROM claimed))
            SELECT (SELECT count(*) FROM candidates), COALESCE((SELECT n FROM allowed), 0), claimed.* FROM (SELECT 1) AS always LEFT JOIN claimed ON true
            """
        var jobs: [Job] = []
        var allowed = 0
        var windowRows = 0
        var statements = [lock.named("queues.lock"), query.named("jobs.claimLimited")]
        if self.pool.connectionConfiguration.statementCacheCapacity > 0 {
            statements.insert(genericPlan.named("queues.genericPlan"), at: 0)
        }
        let outcomes = try await self.pool.withConnection { connection in
            try await connection.pipeline(statements)
        }
        for outcome in outcomes { _ = try outcome.get() }
        for row in try outcomes[statements.count - 1].get() {
            windowRows = try row.decode(Int.self, at: 0)
            allowed = try row.decode(Int.self, at: 1)
            if try row.decode(UUID?.self, at: 2) != nil { jobs.append(try Self.job(from: row, at: 2)) }
        }
        return (jobs, allowed, windowRows)
    }
}
