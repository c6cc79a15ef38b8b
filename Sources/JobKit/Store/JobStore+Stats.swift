import Foundation
import LibPQ

extension JobStore {
    /// Folds the pending count changes into `job_counts`, so reading the counts stays cheap.
    ///
    /// One rollup runs at a time per schema (a transaction-level advisory lock; a caller that
    /// finds one running skips its turn), so concurrent rollups neither double-count nor deadlock.
    /// - Returns: How many change rows it folded.
    @discardableResult
    func rollUpCounts() async throws -> Int {
        let query: PostgresQuery = """
            WITH turn AS (SELECT pg_try_advisory_xact_lock(hashtext(\(self.schema + ".counts"))) AS mine),
            moved AS (
                DELETE FROM \(unescaped: self.schema).job_count_changes WHERE (SELECT mine FROM turn)
                RETURNING queue, job_type, status, delta),
            sums AS (SELECT queue, job_type, status, sum(delta) AS n FROM moved GROUP BY 1, 2, 3),
            folded AS (
                INSERT INTO \(unescaped: self.schema).job_counts AS counts (queue, job_type, status, n)
                SELECT queue, job_type, status, n FROM sums ORDER BY 1, 2, 3
                ON CONFLICT (queue, job_type, status) DO UPDATE SET n = counts.n + excluded.n)
            SELECT count(*) FROM moved
            """
        return try await self.run("jobs.rollUpCounts", query).first?.decode(Int.self, at: 0) ?? 0
    }

    /// Every figure of ``JobStats`` in one statement, whose cost does not grow with the number
    /// of finished jobs: counts come from `job_counts` plus the changes not yet rolled up,
    /// timings from at most the 1,000 latest finished jobs (through `jobs_finished_idx`), the
    /// oldest runnable job from one probe of `jobs_claim_idx` per queue and priority.
    func stats(window: Duration) async throws -> JobStats {
        let jobs = self.jobs
        let query: PostgresQuery = """
            WITH RECURSIVE counts AS (
                SELECT queue, job_type, status::text AS status, sum(n)::int8 AS n FROM (
                    SELECT queue, job_type, status, n FROM \(unescaped: self.schema).job_counts
                    UNION ALL
                    SELECT queue, job_type, status, delta FROM \(unescaped: self.schema).job_count_changes) AS parts
                GROUP BY 1, 2, 3 HAVING sum(n) <> 0),
            recent AS (
                SELECT extract(epoch FROM finished_at - started_at)::float8 AS seconds FROM (
                    SELECT finished_at, started_at, status FROM \(unescaped: jobs)
                    WHERE finished_at > now() - \(window.milliseconds) * interval '1 millisecond'
                    ORDER BY finished_at DESC LIMIT 1000) AS latest
                WHERE status = 'done' AND started_at IS NOT NULL),
            waiting (queue, priority) AS (
                (SELECT queue, priority FROM \(unescaped: jobs) WHERE status = 'scheduled' ORDER BY queue, priority LIMIT 1)
                UNION ALL
                SELECT next.queue, next.priority FROM waiting CROSS JOIN LATERAL (
                    SELECT queue, priority FROM \(unescaped: jobs)
                    WHERE status = 'scheduled' AND (queue, priority) > (waiting.queue, waiting.priority)
                    ORDER BY queue, priority LIMIT 1) AS next),
            oldest AS (
                SELECT min(first.run_at) AS run_at FROM waiting CROSS JOIN LATERAL (
                    SELECT run_at FROM \(unescaped: jobs)
                    WHERE status = 'scheduled' AND queue = waiting.queue AND priority = waiting.priority
                    ORDER BY run_at LIMIT 1) AS first)
            SELECT
                COALESCE((SELECT json_agg(json_build_array(queue, job_type, status, n)) FROM counts), '[]')::text,
                (SELECT count(*) FROM \(unescaped: jobs) WHERE status = 'in_progress' AND lease_expires_at < now()),
                (SELECT count(*) FROM \(unescaped: jobs) WHERE status = 'in_progress' AND lease_expires_at >= now()),
                (SELECT avg(seconds) FROM recent),
                (SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY seconds) FROM recent),
                (SELECT count(*) FROM \(unescaped: jobs) WHERE finished_at > now() - interval '1 minute'),
                (SELECT run_at FROM oldest WHERE run_at <= now()),
                (SELECT min(started_at) FROM \(unescaped: jobs) WHERE status = 'in_progress'),
                (SELECT count(*) FROM \(unescaped: self.schema).schedules)
            """
        guard let row = try await self.run("jobs.stats", query).first else {
            throw PostgresError(code: .protocolViolation, message: "the stats query returned no row")
        }
        let (countsJSON, stuck, leased, average, p95, lastMinute, oldestScheduled, oldestRunning, schedules) =
            try row.decode((String, Int, Int, Double?, Double?, Int, Date?, Date?, Int).self)
        struct Count: Decodable {
            var queue: String, type: String, status: String, n: Int
            init(from decoder: any Decoder) throws {
                var container = try decoder.unkeyedContainer()
                self.queue = try container.decode(String.self)
                self.type = try container.decode(String.self)
                self.status = try container.decode(String.self)
                self.n = try container.decode(Int.self)
            }
        }
        let counts = try JobJSON.decode([Count].self, from: countsJSON, jobID: nil)
        var byStatus = Dictionary(uniqueKeysWithValues: JobStatus.allCases.map { ($0.rawValue, 0) })
        var byQueue: [String: [String: Int]] = [:]
        var byType: [String: [String: Int]] = [:]
        for count in counts {
            byStatus[count.status, default: 0] += count.n
            byQueue[count.queue, default: [:]][count.status, default: 0] += count.n
            byType[count.type, default: [:]][count.status, default: 0] += count.n
        }
        return JobStats(
            total: counts.reduce(0) { $0 + $1.n }, byStatus: byStatus, byQueue: byQueue, byType: byType, stuck: stuck, leased: leased,
            averageProcessingSeconds: average, p95ProcessingSeconds: p95, windowSeconds: Double(window.milliseconds) / 1000,
            finishedLastMinute: lastMinute, oldestScheduledAt: oldestScheduled, oldestInProgressStartedAt: oldestRunning,
            schedules: schedules)
    }

    /// Schema version, last maintenance run and live workers: one statement, after one that finds
    /// which of their tables exist (a schema behind this code lacks some, and a statement that
    /// names a missing table fails as a whole, even inside a `CASE`).
    func health(workerTimeout: Duration, expectedVersion: Int) async throws -> JobHealth {
        let tables = try await self.run("jobs.healthTables", """
            SELECT to_regclass(\(self.schema + ".schema_migrations")) IS NOT NULL,
                to_regclass(\(self.schema + ".maintenance_runs")) IS NOT NULL, to_regclass(\(self.schema + ".workers")) IS NOT NULL
            """)
        guard let existing = tables.first else {
            throw PostgresError(code: .protocolViolation, message: "the health query returned no row")
        }
        let (hasMigrations, hasMaintenanceRuns, hasWorkers) = try existing.decode((Bool, Bool, Bool).self)
        var query: PostgresQuery = "SELECT "
        query.append(hasMigrations ? "(SELECT max(version) FROM \(unescaped: self.schema).schema_migrations)," : "NULL::int4,")
        query.append(hasMaintenanceRuns ? """
            (SELECT json_build_object('startedAt', extract(epoch FROM started_at), 'durationMilliseconds', duration_ms,
                'leader', leader, 'succeeded', succeeded)::text
            FROM \(unescaped: self.schema).maintenance_runs ORDER BY id DESC LIMIT 1),
            """ : "NULL::text,")
        query.append(hasWorkers ? """
            (SELECT COALESCE(json_agg(json_build_object('id', id, 'queues', queues, 'concurrency', concurrency, 'running', running,
                'startedAt', extract(epoch FROM started_at), 'lastSeenAt', extract(epoch FROM last_seen_at)) ORDER BY id), '[]')::text
            FROM \(unescaped: self.schema).workers
            WHERE last_seen_at > now() - \(workerTimeout.milliseconds) * interval '1 millisecond')
            """ : "NULL::text")
        guard let row = try await self.run("jobs.health", query).first else {
            throw PostgresError(code: .protocolViolation, message: "the health query returned no row")
        }
        let (version, maintenanceJSON, workersJSON) = try row.decode((Int?, String?, String?).self)
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        let maintenance = try maintenanceJSON.map { try decoder.decode(JobHealth.MaintenanceRun.self, from: Data($0.utf8)) }
        let workers = try workersJSON.map { try decoder.decode([JobHealth.Worker].self, from: Data($0.utf8)) } ?? []
        var problems: [String] = []
        if version != expectedVersion {
            problems.append("the schema is at version \(version ?? 0), this code needs \(expectedVersion): run `jobkit migrate`")
        }
        if let maintenance, !maintenance.succeeded {
            problems.append("the last maintenance run, at \(maintenance.startedAt), had failures")
        }
        return JobHealth(
            databaseReachable: true, databaseLatencyMilliseconds: nil, schemaVersion: version, expectedSchemaVersion: expectedVersion,
            lastMaintenance: maintenance, workers: workers, problems: problems)
    }
}
