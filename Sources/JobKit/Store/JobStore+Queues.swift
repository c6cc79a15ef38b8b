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

    /// The most candidates a limited claim reads, as a constant `LIMIT` under the claim's own
    /// (a parameter): it is there for the planner. A generic plan guesses that a `LIMIT` it
    /// cannot see keeps a tenth of the rows, so on a table of a million waiting jobs a limited
    /// claim was costed as if it claimed thousands, over PostgreSQL's `jit_above_cost`, and was
    /// compiled to machine code on every call (measured: 52 ms a claim, 1 ms with this cap).
    static let windowEstimateCap = 10_000

    /// The slot a ranked candidate takes: of its key's slots 1 to `key_limit` (from the
    /// statement's `settings`) that no running job holds (`slots`), the `nth`, `nth` being the
    /// candidate's rank among the claim's jobs of its key.
    static let nthFreeSlot = """
        (SELECT slot FROM generate_series(1, (SELECT key_limit FROM settings)) AS slot
            WHERE slot <> ALL (COALESCE(slots, '{}')) ORDER BY slot OFFSET nth - 1 LIMIT 1)
        """

    /// A queue the plain claim leaves alone: one with limits.
    struct LimitedQueue: Sendable, Hashable {
        /// The queue's name.
        var name: String
        /// Whether its only limit is the per-key one: its claims then take no queue-wide lock
        /// (see ``claimLimited(queue:limit:owner:leaseDuration:)``).
        var hasOnlyKeyLimit: Bool
    }

    /// Of `queues`, those running with limits: the ones the plain claim leaves to
    /// ``claimLimited(queue:limit:owner:leaseDuration:)``.
    func limitedQueues(among queues: [String]) async throws -> [LimitedQueue] {
        let query: PostgresQuery = """
            SELECT name, concurrency_limit IS NULL AND rate_limit IS NULL FROM \(unescaped: self.queues)
            WHERE name = ANY(\(queues)) AND paused_at IS NULL
                AND (concurrency_limit IS NOT NULL OR key_limit IS NOT NULL OR rate_limit IS NOT NULL)
            ORDER BY name
            """
        return try await self.run("queues.limited", query).map { row in
            let (name, onlyKeyLimit) = try row.decode((String, Bool).self)
            return LimitedQueue(name: name, hasOnlyKeyLimit: onlyKeyLimit)
        }
    }

    /// Claims up to `limit` jobs of one queue within its fleet-wide limits. Jobs whose key is at
    /// its limit are skipped, not waited for.
    ///
    /// **Key slots.** Every claim of a queue with a key limit gives each keyed job it claims a
    /// slot of its key: a number from 1 to the key limit that no running job of the key holds
    /// (as far as the claim's snapshot shows). The index of running keyed jobs is unique over
    /// the slot, so two claims that race for a key's last slot cannot both commit: the second
    /// waits for the first, then fails with a unique violation, and is made again (it then sees
    /// the first one's job).
    ///
    /// **A queue with only a key limit** is claimed that way and nothing more: one statement
    /// that locks its window of runnable jobs as the plain claim does (`FOR UPDATE SKIP LOCKED`),
    /// keeps those that fit, and gives them slots. Claims of the queue run side by side across
    /// the fleet. Each takes a transaction-level advisory lock on every key it considers and
    /// passes over the keys another claim holds, so racing claims seldom reach for the same
    /// slot, and never wait on each other in a cycle. The values its plan could depend on (the
    /// queue, the `LIMIT`s) are given as subqueries: PostgreSQL then cannot plan a call for its
    /// values any better than the generic plan, and keeps to that one after its first five
    /// calls, with no setting to send (with plain parameters it planned three calls in four
    /// afresh, at 0.45 ms each).
    ///
    /// **A queue with a concurrency or rate limit** is claimed under its row's lock: two
    /// statements in one transaction, sent in one round trip (a pipeline); the first locks the
    /// queue's row, so claims of this queue take turns across the fleet; the second starts once
    /// the lock is held, so its snapshot sees every claim committed before, and it counts
    /// running jobs and the rate window without a lost update. The queue's running jobs are
    /// counted only up to its concurrency limit, and not at all without one: a `LIMIT` keeps
    /// that count a plain index scan, which marks the index entries of finished jobs dead as it
    /// passes them (a bitmap scan would visit every one of them on every claim until the next
    /// vacuum).
    ///
    /// Free keys are looked for in a window of runnable jobs in claim order. Jobs whose key is
    /// already at its limit are passed over by the scan, so a key with a long backlog hides no
    /// other key, at the price of reading that backlog on every claim. When the window was full
    /// yet yielded too few (several jobs of one key), a wide one is read.
    func claimLimited(queue: LimitedQueue, limit: Int, owner: String, leaseDuration: Duration) async throws -> [Job] {
        if queue.hasOnlyKeyLimit {
            var attempt = 0
            while true {
                attempt += 1
                do {
                    if let jobs = try await self.claimKeyed(queue: queue.name, limit: limit, owner: owner, leaseDuration: leaseDuration) {
                        return jobs
                    }
                    break  // the queue has other limits now: claimed under its lock.
                } catch let error as PostgresError where attempt < 5 && (error.sqlState == .uniqueViolation || error.sqlState == .deadlockDetected) {
                    continue
                }
            }
        }
        let narrow = max(limit * 2, 8)
        let first = try await self.claimLocked(queue: queue.name, limit: limit, window: narrow, owner: owner, leaseDuration: leaseDuration)
        guard first.jobs.count < first.allowed, first.windowRows == narrow else { return first.jobs }
        let wide = try await self.claimLocked(
            queue: queue.name, limit: first.allowed - first.jobs.count, window: min(max(limit * 20, 2000), Self.windowEstimateCap), owner: owner, leaseDuration: leaseDuration)
        return first.jobs + wide.jobs
    }

    /// The claim of a queue with only a key limit: a window of `limit` jobs, then, when it was
    /// full yet yielded too few, a wider one of `max(8 × limit, 64)`, each row of which it locks.
    /// `nil` when the queue has other limits now (or none, or is paused).
    private func claimKeyed(queue: String, limit: Int, owner: String, leaseDuration: Duration) async throws -> [Job]? {
        guard let first = try await self.claimKeyed(queue: queue, limit: limit, window: limit, owner: owner, leaseDuration: leaseDuration) else {
            return nil
        }
        guard first.jobs.count < limit, first.windowRows == limit else { return first.jobs }
        let wide = try await self.claimKeyed(
            queue: queue, limit: limit - first.jobs.count, window: min(max(limit * 8, 64), Self.windowEstimateCap), owner: owner, leaseDuration: leaseDuration)
        return first.jobs + (wide?.jobs ?? [])
    }

    private func claimKeyed(
        queue: String, limit: Int, window: Int, owner: String, leaseDuration: Duration
    ) async throws -> (jobs: [Job], windowRows: Int)? {
        let query: PostgresQuery = """
            WITH settings AS (
                SELECT key_limit FROM \(unescaped: self.queues)
                WHERE name = \(queue) AND paused_at IS NULL AND key_limit IS NOT NULL AND concurrency_limit IS NULL AND rate_limit IS NULL),
            key_running AS (
                SELECT concurrency_key, count(*) AS n, array_remove(array_agg(key_slot), NULL) AS slots FROM \(unescaped: self.jobs)
                WHERE status = 'in_progress' AND queue = (SELECT \(queue)) AND concurrency_key IS NOT NULL GROUP BY 1),
            candidates AS MATERIALIZED (
                SELECT * FROM (
                    SELECT id, priority, run_at, concurrency_key FROM \(unescaped: self.jobs)
                    WHERE status = 'scheduled' AND queue = (SELECT \(queue)) AND run_at <= now() AND EXISTS (SELECT FROM settings)
                        AND CASE WHEN concurrency_key IS NULL THEN true
                            WHEN concurrency_key IN (SELECT concurrency_key FROM key_running WHERE n >= (SELECT key_limit FROM settings)) THEN false
                            ELSE pg_try_advisory_xact_lock((SELECT hashtext(\(self.schema + ".keys"))), hashtext(\(queue) || '/' || concurrency_key)) END
                    ORDER BY priority, run_at LIMIT \(unescaped: String(Self.windowEstimateCap)) FOR UPDATE SKIP LOCKED) AS capped
                LIMIT (SELECT \(window))),
            ranked AS (
                SELECT c.id, c.priority, c.run_at, c.concurrency_key, COALESCE(k.n, 0) AS running, k.slots,
                    row_number() OVER (PARTITION BY c.concurrency_key ORDER BY c.priority, c.run_at) AS nth
                FROM candidates AS c LEFT JOIN key_running AS k USING (concurrency_key)),
            chosen AS (
                SELECT id, CASE WHEN concurrency_key IS NOT NULL THEN \(unescaped: Self.nthFreeSlot) END AS slot
                FROM ranked
                WHERE concurrency_key IS NULL OR running + nth <= (SELECT key_limit FROM settings)
                ORDER BY priority, run_at LIMIT (SELECT \(limit))),
            claimed AS (
                UPDATE \(unescaped: self.jobs) AS j SET status = 'in_progress', attempt = j.attempt + 1, started_at = now(),
                    lease_owner = \(owner), lease_token = gen_random_uuid(),
                    lease_expires_at = now() + \(leaseDuration.milliseconds) * interval '1 millisecond',
                    progress = 0, current_step = NULL, cancel_requested_at = NULL, updated_at = now(), key_slot = chosen.slot
                FROM chosen WHERE j.id = chosen.id
                RETURNING \(unescaped: Self.columns("j.")))
            SELECT EXISTS (SELECT FROM settings), (SELECT count(*) FROM candidates), claimed.* FROM (SELECT 1) AS always LEFT JOIN claimed ON true
            """
        let rows = try await self.pool.query(query.named("jobs.claimKeyed"))
        var jobs: [Job] = []
        var windowRows = 0
        for row in rows {
            guard try row.decode(Bool.self, at: 0) else { return nil }
            windowRows = try row.decode(Int.self, at: 1)
            if try row.decode(UUID?.self, at: 2) != nil { jobs.append(try Self.job(from: row, at: 2)) }
        }
        return (jobs, windowRows)
    }

    /// The row lock and the claim statement of a queue with a concurrency or rate limit,
    /// pipelined in one transaction, the claim with its generic plan (see
    /// ``runWithGenericPlans(_:)``).
    private func claimLocked(
        queue: String, limit: Int, window: Int, owner: String, leaseDuration: Duration
    ) async throws -> (jobs: [Job], allowed: Int, windowRows: Int) {
        let lock: PostgresQuery = "SELECT FROM \(unescaped: self.queues) WHERE name = \(queue) FOR UPDATE"
        let query: PostgresQuery = """
            WITH settings AS (SELECT * FROM \(unescaped: self.queues) WHERE name = \(queue) AND paused_at IS NULL),
            running AS (
                SELECT count(*) AS n FROM (
                    SELECT FROM \(unescaped: self.jobs) WHERE status = 'in_progress' AND queue = \(queue)
                    LIMIT COALESCE((SELECT concurrency_limit FROM settings), 0)) AS counted),
            key_running AS (
                SELECT concurrency_key, count(*) AS n, array_remove(array_agg(key_slot), NULL) AS slots FROM \(unescaped: self.jobs)
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
                SELECT * FROM (
                    SELECT id, priority, run_at, concurrency_key FROM \(unescaped: self.jobs)
                    WHERE status = 'scheduled' AND queue = \(queue) AND run_at <= now()
                        AND (concurrency_key IS NULL OR (SELECT key_limit FROM settings) IS NULL OR concurrency_key NOT IN (
                            SELECT concurrency_key FROM key_running WHERE n >= (SELECT key_limit FROM settings)))
                    ORDER BY priority, run_at LIMIT \(unescaped: String(Self.windowEstimateCap))) AS capped
                LIMIT \(window)),
            ranked AS (
                SELECT c.id, c.priority, c.run_at, c.concurrency_key, COALESCE(k.n, 0) AS key_running, k.slots,
                    row_number() OVER (PARTITION BY c.concurrency_key ORDER BY c.priority, c.run_at) AS nth
                FROM candidates AS c LEFT JOIN key_running AS k USING (concurrency_key)),
            chosen AS (
                SELECT id, CASE WHEN concurrency_key IS NOT NULL AND (SELECT key_limit FROM settings) IS NOT NULL THEN \(unescaped: Self.nthFreeSlot) END AS slot
                FROM ranked
                WHERE concurrency_key IS NULL OR (SELECT key_limit FROM settings) IS NULL OR key_running + nth <= (SELECT key_limit FROM settings)
                ORDER BY priority, run_at LIMIT COALESCE((SELECT n FROM allowed), 0)),
            locked AS (
                SELECT id FROM \(unescaped: self.jobs) WHERE id IN (SELECT id FROM chosen) AND status = 'scheduled'
                FOR UPDATE SKIP LOCKED),
            claimed AS (
                UPDATE \(unescaped: self.jobs) AS j SET status = 'in_progress', attempt = j.attempt + 1, started_at = now(),
                    lease_owner = \(owner), lease_token = gen_random_uuid(),
                    lease_expires_at = now() + \(leaseDuration.milliseconds) * interval '1 millisecond',
                    progress = 0, current_step = NULL, cancel_requested_at = NULL, updated_at = now(), key_slot = chosen.slot
                FROM locked JOIN chosen ON chosen.id = locked.id WHERE j.id = locked.id
                RETURNING \(unescaped: Self.columns("j."))),
            counted AS (
                UPDATE \(unescaped: self.queues) SET
                    rate_window_started_at = CASE WHEN (SELECT open FROM window_open) THEN rate_window_started_at ELSE now() END,
                    rate_window_count = CASE WHEN (SELECT open FROM window_open) THEN rate_window_count ELSE 0 END + (SELECT count(*) FROM claimed)
                WHERE name = \(queue) AND rate_limit IS NOT NULL AND EXISTS (SELECT FROM claimed))
            SELECT (SELECT count(*) FROM candidates), COALESCE((SELECT n FROM allowed), 0), claimed.* FROM (SELECT 1) AS always LEFT JOIN claimed ON true
            """
        let rows = try await self.runWithGenericPlans([lock.named("queues.lock"), query.named("jobs.claimLimited")])
        var jobs: [Job] = []
        var allowed = 0
        var windowRows = 0
        for row in rows[1] {
            windowRows = try row.decode(Int.self, at: 0)
            allowed = try row.decode(Int.self, at: 1)
            if try row.decode(UUID?.self, at: 2) != nil { jobs.append(try Self.job(from: row, at: 2)) }
        }
        return (jobs, allowed, windowRows)
    }
}
