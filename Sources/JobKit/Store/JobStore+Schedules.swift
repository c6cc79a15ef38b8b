import Foundation
import LibPQ

/// The statements of periodic schedules: register, list, remove, read the due ones, and
/// enqueue their ticks.
extension JobStore {
    /// `schema.schedules`
    var schedulesTable: String { "\(self.schema).schedules" }

    // MARK: - Registering

    /// Inserts or updates schedules in one statement, in name order (so two processes
    /// registering the same set never deadlock). An unchanged definition changes nothing; a
    /// changed one bumps the revision, and a changed timing restarts from `nextTicks`.
    /// - Parameters:
    ///   - schedules: The definitions.
    ///   - nextTicks: Each one's first tick after now (by name), for new or re-timed schedules.
    ///   - registeredBy: The registering worker.
    /// - Returns: How many rows were inserted or changed.
    @discardableResult
    func registerSchedules(_ schedules: [JobSchedule], nextTicks: [String: Date], registeredBy: String) async throws -> Int {
        guard !schedules.isEmpty else { return 0 }
        let sorted = schedules.sorted { $0.name < $1.name }
        let rows = sorted.map(StoredDefinition.init)
        let query: PostgresQuery = """
            INSERT INTO \(unescaped: self.schedulesTable) AS s (name, job_type, queue, priority, max_attempts, timeout_ms,
                reference_type, reference_id, payload, kind, expression, interval_seconds, time_zone, missed_ticks,
                backfill_limit, next_tick_at, registered_by)
            SELECT name, job_type, queue, priority, max_attempts, timeout_ms, reference_type, reference_id, payload::jsonb, kind,
                expression, interval_seconds, time_zone, missed_ticks, backfill_limit, next_tick_at, \(registeredBy)
            FROM unnest(\(rows.map(\.name)), \(rows.map(\.jobType)), \(rows.map(\.queue)), \(rows.map(\.priority)),
                \(rows.map(\.maxAttempts)), \(rows.map(\.timeoutMilliseconds)), \(rows.map(\.referenceType)), \(rows.map(\.referenceID)),
                \(rows.map(\.payloadJSON)), \(rows.map(\.kind)), \(rows.map(\.expression)), \(rows.map(\.intervalSeconds)),
                \(rows.map(\.timeZone)), \(rows.map(\.missedTicks)), \(rows.map(\.backfillLimit)), \(sorted.map { nextTicks[$0.name] }))
                AS u(name, job_type, queue, priority, max_attempts, timeout_ms, reference_type, reference_id, payload, kind,
                     expression, interval_seconds, time_zone, missed_ticks, backfill_limit, next_tick_at)
            ORDER BY name
            ON CONFLICT (name) DO UPDATE SET
                job_type = excluded.job_type, queue = excluded.queue, priority = excluded.priority,
                max_attempts = excluded.max_attempts, timeout_ms = excluded.timeout_ms, reference_type = excluded.reference_type,
                reference_id = excluded.reference_id, payload = excluded.payload, kind = excluded.kind,
                expression = excluded.expression, interval_seconds = excluded.interval_seconds, time_zone = excluded.time_zone,
                missed_ticks = excluded.missed_ticks, backfill_limit = excluded.backfill_limit,
                next_tick_at = CASE
                    WHEN (s.kind, s.expression, s.interval_seconds, s.time_zone)
                        IS DISTINCT FROM (excluded.kind, excluded.expression, excluded.interval_seconds, excluded.time_zone)
                    THEN excluded.next_tick_at ELSE s.next_tick_at END,
                revision = s.revision + 1, registered_by = excluded.registered_by, updated_at = now()
            WHERE (s.job_type, s.queue, s.priority, s.max_attempts, s.timeout_ms, s.reference_type, s.reference_id, s.payload,
                   s.kind, s.expression, s.interval_seconds, s.time_zone, s.missed_ticks, s.backfill_limit)
                IS DISTINCT FROM
                  (excluded.job_type, excluded.queue, excluded.priority, excluded.max_attempts, excluded.timeout_ms,
                   excluded.reference_type, excluded.reference_id, excluded.payload, excluded.kind, excluded.expression,
                   excluded.interval_seconds, excluded.time_zone, excluded.missed_ticks, excluded.backfill_limit)
            """
        return try await self.run("schedules.registerMany", query).affectedRows
    }

    /// Deletes a schedule; returns whether it existed. Jobs it enqueued stay.
    func removeSchedule(named name: String) async throws -> Bool {
        try await self.run("schedules.remove", "DELETE FROM \(unescaped: self.schedulesTable) WHERE name = \(name)").affectedRows > 0
    }

    // MARK: - Reading

    /// Every schedule, by name.
    func schedules() async throws -> [RegisteredSchedule] {
        let rows = try await self.run("schedules.list", """
            SELECT name, job_type, queue, expression, kind, time_zone, missed_ticks, backfill_limit, next_tick_at, last_tick_at,
                last_enqueued_at, registered_by, created_at, updated_at
            FROM \(unescaped: self.schedulesTable) ORDER BY name
            """)
        return try rows.map { row in
            let (name, jobType, queue, expression, kind, timeZone, missedTicks) =
                try row.decode((String, String, String, String, String, String, String).self)
            return RegisteredSchedule(
                name: name, jobType: jobType, queue: queue, expression: expression, kind: kind, timeZone: timeZone,
                missedTicks: missedTicks, backfillLimit: try row.decode(Int?.self, at: 7), nextTickAt: try row.decode(Date?.self, at: 8),
                lastTickAt: try row.decode(Date?.self, at: 9), lastEnqueuedAt: try row.decode(Date?.self, at: 10),
                registeredBy: try row.decode(String?.self, at: 11), createdAt: try row.decode(Date.self, at: 12),
                updatedAt: try row.decode(Date.self, at: 13))
        }
    }

    /// What the scheduler needs of a due schedule.
    struct DueSchedule: Sendable {
        var name: String
        var kind: String
        var expression: String
        var intervalSeconds: Int64?
        var timeZone: String
        var missedTicks: String
        var backfillLimit: Int?
        var nextTickAt: Date
        var revision: Int64
    }

    /// The schedules whose next tick is at or before `now` (at most `limit`, earliest first),
    /// and the earliest next tick of the others: one statement, one index probe when none is due.
    func dueSchedules(at now: Date, limit: Int) async throws -> (due: [DueSchedule], later: Date?) {
        let rows = try await self.run("schedules.due", """
            SELECT m.later, d.name, d.kind, d.expression, d.interval_seconds, d.time_zone, d.missed_ticks, d.backfill_limit,
                d.next_tick_at, d.revision
            FROM (SELECT min(next_tick_at) AS later FROM \(unescaped: self.schedulesTable) WHERE next_tick_at > \(now)) AS m
            LEFT JOIN LATERAL (
                SELECT name, kind, expression, interval_seconds, time_zone, missed_ticks, backfill_limit, next_tick_at, revision
                FROM \(unescaped: self.schedulesTable) WHERE next_tick_at <= \(now) ORDER BY next_tick_at LIMIT \(limit)) AS d ON true
            """)
        var later: Date?
        var due: [DueSchedule] = []
        for row in rows {
            later = try row.decode(Date?.self, at: 0)
            guard !row.isNull(at: 1) else { continue }
            due.append(DueSchedule(
                name: try row.decode(String.self, at: 1), kind: try row.decode(String.self, at: 2),
                expression: try row.decode(String.self, at: 3), intervalSeconds: try row.decode(Int64?.self, at: 4),
                timeZone: try row.decode(String.self, at: 5), missedTicks: try row.decode(String.self, at: 6),
                backfillLimit: try row.decode(Int?.self, at: 7), nextTickAt: try row.decode(Date.self, at: 8),
                revision: try row.decode(Int64.self, at: 9)))
        }
        return (due, later)
    }

    // MARK: - Enqueueing ticks

    /// One schedule moved forward: from `expectedNext` (as read, with `revision`) to `newNext`,
    /// enqueueing a job per tick.
    struct Advance: Sendable {
        var name: String
        var revision: Int64
        var expectedNext: Date
        var newNext: Date?
        var ticks: [Date]
    }

    /// Moves schedules forward and enqueues their ticks' jobs in one statement, and wakes the
    /// executors of the queues that got jobs.
    ///
    /// Each schedule moves only if its row still has the `next_tick_at` and revision the caller
    /// read (a compare-and-set: a scheduler that raced and lost changes nothing, even if the
    /// unique index on `unique_key` were gone); the jobs are inserted for the schedules that
    /// moved, with `ON CONFLICT DO NOTHING` as a second guard. Rows are locked in name order, as
    /// ``registerSchedules(_:nextTicks:registeredBy:)`` writes them, so racing schedulers never deadlock.
    /// - Returns: The names of the schedules that moved, and how many jobs were inserted.
    func advanceSchedules(_ advances: [Advance]) async throws -> (advanced: Set<String>, enqueued: Int) {
        guard !advances.isEmpty else { return ([], 0) }
        var jobNames: [String] = []
        var jobIDs: [UUID] = []
        var jobTicks: [Date] = []
        var jobKeys: [String] = []
        for advance in advances {
            for tick in advance.ticks {
                jobNames.append(advance.name)
                jobIDs.append(.v7())
                jobTicks.append(tick)
                jobKeys.append(JobSchedule.uniqueKey(name: advance.name, tick: tick))
            }
        }
        let query: PostgresQuery = """
            WITH a AS (
                SELECT * FROM unnest(\(advances.map(\.name)), \(advances.map(\.revision)), \(advances.map(\.expectedNext)),
                                     \(advances.map(\.newNext)), \(advances.map(\.ticks.last)))
                    AS a(name, revision, expected_next, new_next, last_tick)),
            moved AS (
                UPDATE \(unescaped: self.schedulesTable) AS s SET next_tick_at = a.new_next,
                    last_tick_at = COALESCE(a.last_tick, s.last_tick_at),
                    last_enqueued_at = CASE WHEN a.last_tick IS NULL THEN s.last_enqueued_at ELSE now() END,
                    updated_at = now()
                FROM a, (SELECT name FROM \(unescaped: self.schedulesTable) WHERE name = ANY(\(advances.map(\.name)))
                         ORDER BY name FOR UPDATE) AS locked
                WHERE s.name = a.name AND s.name = locked.name AND s.revision = a.revision AND s.next_tick_at = a.expected_next
                RETURNING s.name, s.job_type, s.queue, s.priority, s.payload, s.max_attempts, s.timeout_ms, s.reference_type,
                    s.reference_id),
            ins AS (
                INSERT INTO \(unescaped: self.jobs) (id, queue, job_type, priority, payload, max_attempts, reference_type,
                    reference_id, unique_key, run_at, timeout_ms)
                SELECT t.id, moved.queue, moved.job_type, moved.priority, moved.payload, moved.max_attempts, moved.reference_type,
                    moved.reference_id, t.unique_key, t.tick, moved.timeout_ms
                FROM unnest(\(jobNames), \(jobIDs), \(jobTicks), \(jobKeys)) AS t(name, id, tick, unique_key)
                JOIN moved ON moved.name = t.name
                ORDER BY t.tick, t.name
                ON CONFLICT DO NOTHING
                RETURNING queue)
            SELECT (SELECT COALESCE(array_agg(name), '{}') FROM moved), (SELECT count(*) FROM ins),
                (SELECT count(pg_notify(\(self.enqueuedChannel), q)) FROM (SELECT DISTINCT queue AS q FROM ins) AS queues)
            """
        guard let row = try await self.run("schedules.advanceMany", query).first else { return ([], 0) }
        let (names, enqueued, _) = try row.decode(([String], Int, Int).self)
        return (Set(names), enqueued)
    }
}

/// A ``JobSchedule``'s definition as the columns of `schedules` hold it.
struct StoredDefinition: Sendable {
    var name: String
    var jobType: String
    var queue: String
    var priority: Int16
    var maxAttempts: Int32
    var timeoutMilliseconds: Int?
    var referenceType: String?
    var referenceID: String?
    var payloadJSON: String
    var kind: String
    var expression: String
    var intervalSeconds: Int?
    var timeZone: String
    var missedTicks: String
    var backfillLimit: Int?

    init(_ schedule: JobSchedule) {
        self.name = schedule.name
        self.jobType = schedule.jobType
        self.queue = schedule.options.queue
        self.priority = Int16(clamping: schedule.options.priority)
        self.maxAttempts = Int32(clamping: schedule.options.maxAttempts ?? 1)
        self.timeoutMilliseconds = schedule.options.timeout.map { Int($0.milliseconds) }
        self.referenceType = schedule.options.reference?.type
        self.referenceID = schedule.options.reference?.id
        self.payloadJSON = schedule.payloadJSON
        self.expression = schedule.timing.description
        switch schedule.timing {
        case .cron:
            self.kind = "cron"
            self.intervalSeconds = nil
        case .every(let interval):
            self.kind = "interval"
            self.intervalSeconds = Int(interval.components.seconds)
        }
        self.timeZone = schedule.timeZone.identifier
        switch schedule.missedTicks {
        case .skip:
            self.missedTicks = "skip"
            self.backfillLimit = nil
        case .backfill(let limit):
            self.missedTicks = "backfill"
            self.backfillLimit = limit
        }
    }
}
