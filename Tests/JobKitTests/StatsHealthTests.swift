import Foundation
import JobKit
import LibPQ
import PostgresTestSupport
import Testing

/// Stats and health against a real PostgreSQL: counts and timings of a known mix, the schema
/// version, the last maintenance run, live workers, an unreachable database; and what both
/// cost on a big table (measured and printed, not asserted).
@Suite(.timeLimit(.minutes(3)))
struct StatsHealthTests {
    static let latestVersion = Migration.all.map(\.version).max() ?? 0

    /// How far apart two times are, in seconds; infinite when either is missing.
    static func seconds(_ a: Date?, _ b: Date?) -> Double {
        guard let a, let b else { return .infinity }
        return abs(a.timeIntervalSince(b))
    }

    // MARK: - Stats

    @Test func statsOfAnEmptyDatabaseAreZeroAndNil() async throws {
        try await withJobKitFixture("stats") { fixture in
            let stats = try await fixture.jobs.stats()

            #expect(stats.total == 0)
            #expect(stats.byStatus == ["scheduled": 0, "in_progress": 0, "done": 0, "failed": 0, "cancelled": 0])
            #expect(stats.byQueue.isEmpty && stats.byType.isEmpty)
            #expect(stats.stuck == 0 && stats.leased == 0 && stats.finishedLastMinute == 0)
            #expect(stats.averageProcessingSeconds == nil && stats.p95ProcessingSeconds == nil)
            #expect(stats.oldestScheduledAt == nil && stats.oldestInProgressStartedAt == nil)
            #expect(stats.windowSeconds == 3600)
        }
    }

    @Test func statsCountJobsByStatusQueueAndType() async throws {
        try await withJobKitFixture("stats") { fixture in
            let mail = JobOptions(queue: "mail")
            let images = JobOptions(queue: "images")
            for _ in 0..<2 { _ = try await fixture.job(in: .scheduled, type: "send", options: mail) }
            _ = try await fixture.job(in: .done, type: "send", options: mail)
            _ = try await fixture.job(in: .done, type: "send", options: images)
            _ = try await fixture.job(in: .inProgress, type: "resize", options: images)
            _ = try await fixture.job(in: .failed, type: "resize", options: images)
            _ = try await fixture.job(in: .cancelled, type: "resize", options: images)

            let stats = try await fixture.jobs.stats()

            #expect(stats.total == 7)
            #expect(stats.byStatus == ["scheduled": 2, "in_progress": 1, "done": 2, "failed": 1, "cancelled": 1])
            #expect(stats.byQueue == [
                "mail": ["scheduled": 2, "done": 1],
                "images": ["done": 1, "in_progress": 1, "failed": 1, "cancelled": 1],
            ])
            #expect(stats.byType == [
                "send": ["scheduled": 2, "done": 2],
                "resize": ["in_progress": 1, "failed": 1, "cancelled": 1],
            ])
        }
    }

    @Test func statsTellStuckJobsFromLeasedOnes() async throws {
        try await withJobKitFixture("stats") { fixture in
            for _ in 0..<2 { _ = try await fixture.runningJob() }
            let stuck = try await fixture.runningJob()
            try await fixture.expireLease(stuck.id)

            let stats = try await fixture.jobs.stats()

            #expect(stats.stuck == 1)
            #expect(stats.leased == 2)
            #expect(stats.byStatus["in_progress"] == 3)
        }
    }

    @Test func statsAverageAndP95AreTheRunTimesOfJobsDoneWithinTheWindow() async throws {
        try await withJobKitFixture("stats") { fixture in
            for seconds in 1...4 {
                let job = try await fixture.job(in: .done)
                try await fixture.execute("UPDATE jobkit.jobs SET started_at = finished_at - \(seconds) * interval '1 second' WHERE id = \(job.id)")
            }
            // Outside the window, or not done: left out.
            let old = try await fixture.job(in: .done)
            try await fixture.execute("""
                UPDATE jobkit.jobs SET finished_at = now() - interval '2 hours', started_at = now() - interval '2 hours' - interval '100 seconds'
                WHERE id = \(old.id)
                """)
            let failed = try await fixture.job(in: .failed)
            try await fixture.execute("UPDATE jobkit.jobs SET started_at = finished_at - interval '50 seconds' WHERE id = \(failed.id)")

            let stats = try await fixture.jobs.stats(window: .seconds(3600))

            #expect(stats.windowSeconds == 3600)
            let average = try #require(stats.averageProcessingSeconds)
            let p95 = try #require(stats.p95ProcessingSeconds)
            #expect(abs(average - 2.5) < 1e-6)
            // Interpolated: 3 + 0.85 × (4 − 3).
            #expect(abs(p95 - 3.85) < 1e-6)
        }
    }

    @Test func statsCountJobsFinishedInTheLastMinuteWhateverTheirStatus() async throws {
        try await withJobKitFixture("stats") { fixture in
            for _ in 0..<2 { _ = try await fixture.job(in: .done) }
            _ = try await fixture.job(in: .failed)
            _ = try await fixture.job(in: .cancelled)
            _ = try await fixture.job(in: .scheduled)
            _ = try await fixture.job(in: .inProgress)
            let earlier = try await fixture.job(in: .done)
            try await fixture.execute("UPDATE jobkit.jobs SET finished_at = now() - interval '5 minutes' WHERE id = \(earlier.id)")

            let stats = try await fixture.jobs.stats()

            #expect(stats.finishedLastMinute == 4)
        }
    }

    @Test func statsGiveTheOldestRunnableScheduledJobAndTheOldestRunningOne() async throws {
        try await withJobKitFixture("stats") { fixture in
            let oldest = try await fixture.job(in: .scheduled)
            let younger = try await fixture.job(in: .scheduled)
            let later = try await fixture.job(in: .scheduled, options: .init(runAt: Date().addingTimeInterval(3600)))
            try await fixture.execute("UPDATE jobkit.jobs SET run_at = now() - interval '10 minutes' WHERE id = \(oldest.id)")
            try await fixture.execute("UPDATE jobkit.jobs SET run_at = now() - interval '5 minutes' WHERE id = \(younger.id)")
            // Created first, but not runnable yet: it does not count.
            try await fixture.execute("UPDATE jobkit.jobs SET created_at = now() - interval '1 day' WHERE id = \(later.id)")
            let longest = try await fixture.runningJob()
            _ = try await fixture.runningJob()
            try await fixture.execute("UPDATE jobkit.jobs SET started_at = now() - interval '20 minutes' WHERE id = \(longest.id)")

            let stats = try await fixture.jobs.stats()

            let oldestRunAt = try await fixture.jobs.job(oldest.id).runAt
            let longestStartedAt = try await fixture.jobs.job(longest.id).startedAt
            #expect(Self.seconds(stats.oldestScheduledAt, oldestRunAt) < 0.001)
            #expect(Self.seconds(stats.oldestInProgressStartedAt, longestStartedAt) < 0.001)
        }
    }

    // MARK: - Health

    @Test func healthOfACurrentDatabaseIsGood() async throws {
        try await withJobKitFixture("health") { fixture in
            let health = await fixture.jobs.health()

            #expect(health.databaseReachable)
            #expect((health.databaseLatencyMilliseconds ?? -1) >= 0)
            #expect(health.schemaVersion == Self.latestVersion)
            #expect(health.expectedSchemaVersion == Self.latestVersion)
            #expect(health.isHealthy, "\(health.problems)")
            #expect(health.lastMaintenance == nil)
            #expect(health.workers.isEmpty)
        }
    }

    @Test func healthBehindTheSchemaIsUnhealthyNamingTheVersion() async throws {
        try await withJobKitFixture("health") { fixture in
            try await Migrator(pool: fixture.pool).migrateDown(to: 1)

            let health = await fixture.jobs.health()

            #expect(health.databaseReachable)
            #expect(health.schemaVersion == 1)
            #expect(!health.isHealthy)
            #expect(health.problems.contains { $0.contains("version 1") && $0.contains("\(Self.latestVersion)") }, "\(health.problems)")
        }
    }

    @Test func healthOfAnUnmigratedDatabaseAsksForAMigration() async throws {
        try await withJobKitFixture("health", migrate: false) { fixture in
            let health = await fixture.jobs.health()

            #expect(health.databaseReachable, "\(health.problems)")
            #expect(health.schemaVersion == nil)
            #expect(health.problems.contains { $0.contains("jobkit migrate") }, "\(health.problems)")
        }
    }

    @Test func healthShowsTheLastMaintenanceRun() async throws {
        try await withJobKitFixture("health") { fixture in
            let report = try await MaintenanceService(service: fixture.jobs).runOnce()

            let health = await fixture.jobs.health()

            let run = try #require(health.lastMaintenance)
            #expect(run.leader == "worker-main")
            #expect(run.succeeded)
            #expect(Self.seconds(run.startedAt, report.startedAt) < 0.001)
            #expect(abs(run.durationMilliseconds - report.durationMilliseconds) < 0.001)
            #expect(health.isHealthy, "\(health.problems)")
        }
    }

    @Test func healthIsUnhealthyAfterAMaintenanceRunWithFailures() async throws {
        try await withJobKitFixture("health") { fixture in
            try await fixture.execute("ALTER TABLE jobkit.job_events RENAME TO job_events_elsewhere")
            try await MaintenanceService(service: fixture.jobs).runOnce()

            let health = await fixture.jobs.health()

            #expect(health.lastMaintenance?.succeeded == false)
            #expect(health.problems.contains { $0.contains("maintenance") }, "\(health.problems)")
        }
    }

    @Test func healthListsARunningExecutorAndDropsItOnceItStops() async throws {
        try await withJobKitFixture("health") { fixture in
            let service = JobService(pool: fixture.makePool(), configuration: .init(
                workerID: "service-health", leaseDuration: .seconds(2), heartbeatInterval: .milliseconds(200)))
            let executor = JobExecutor(
                service: service, handlers: [], configuration: .init(queues: ["mail", "images"], concurrency: 3, workerID: "exec-health"))

            let seen = try await whileRunning(executor) {
                // Registered at start, then seen again at a heartbeat.
                try await pollUntil("a heartbeat of the executor") {
                    guard let worker = await service.health(workerTimeout: .seconds(60)).workers.first(where: { $0.id == "exec-health" }) else { return false }
                    return worker.lastSeenAt > worker.startedAt
                }
                // A generous timeout: a loaded machine may delay a heartbeat past three intervals.
                return try #require(await service.health(workerTimeout: .seconds(60)).workers.onlyElement)
            }

            #expect(seen.id == "exec-health")
            #expect(seen.queues == ["mail", "images"])
            #expect(seen.concurrency == 3)
            #expect(seen.running == 0)
            #expect(await service.health().workers.isEmpty)
        }
    }

    @Test func healthLeavesOutWorkersNotSeenRecently() async throws {
        try await withJobKitFixture("health") { fixture in
            try await fixture.execute("""
                INSERT INTO jobkit.workers (id, queues, concurrency, started_at, last_seen_at) VALUES
                    ('gone', '{default}', 1, now() - interval '2 hours', now() - interval '1 hour'),
                    ('alive', '{default}', 4, now() - interval '2 hours', now())
                """)

            let health = await fixture.jobs.health(workerTimeout: .seconds(30))

            #expect(health.workers.map(\.id) == ["alive"])
        }
    }

    @Test func healthOfAnUnreachableDatabaseSaysSoWithoutThrowing() async throws {
        let pool = PostgresConnectionPool(
            connection: PostgresConfiguration("postgresql://postgres@127.0.0.1:1/postgres", connectTimeout: .seconds(2)),
            configuration: .init(maximumConnections: 1, acquireTimeout: .seconds(5)))
        let jobs = JobService(pool: pool)

        let health = await jobs.health()
        await pool.close()

        #expect(!health.databaseReachable)
        #expect(health.databaseLatencyMilliseconds == nil)
        #expect(health.schemaVersion == nil)
        #expect(health.expectedSchemaVersion == Self.latestVersion)
        #expect(!health.isHealthy)
        #expect(health.problems.contains { $0.contains("unreachable") }, "\(health.problems)")
    }

    // MARK: - Exact counts on any path

    /// Jobs per queue and status, counted from the jobs table itself.
    static func countedByHand(_ fixture: JobKitFixture) async throws -> [String: [String: Int]] {
        var counted: [String: [String: Int]] = [:]
        let rows = try await fixture.pool.query(
            "SELECT queue, status::text, count(*) FROM \(unescaped: fixture.schema).jobs GROUP BY 1, 2")
        for row in rows {
            let (queue, status, n) = try row.decode((String, String, Int).self)
            counted[queue, default: [:]][status] = n
        }
        return counted
    }

    /// A job that does nothing, for enqueueing through both bulk paths.
    struct Noop: JobHandler {
        static let type = "noop"
        func run(_ payload: EmptyPayload, context: JobContext) async throws -> EmptyPayload { EmptyPayload() }
    }

    @Test func countsStayExactThroughEnqueueTransitionsCleanupAndRawSQL() async throws {
        try await withJobKitFixture("stats") { fixture in
            // Bulk enqueue by COPY (64 or more) and by unnest (fewer), tracked jobs by hand.
            try await fixture.jobs.enqueueMany(Noop.self, Array(repeating: EmptyPayload(), count: 100), options: .init(queue: "bulk"))
            try await fixture.jobs.enqueueMany(Noop.self, Array(repeating: EmptyPayload(), count: 10), options: .init(queue: "small"))
            _ = try await fixture.job(in: .done, options: .init(queue: "hand"))
            let failed = try await fixture.job(in: .failed, options: .init(queue: "hand"))
            let running = try await fixture.runningJob()
            #expect(try await fixture.jobs.stats().byQueue == Self.countedByHand(fixture))

            // Retry, cleanup, raw SQL moves across queues and statuses, and raw deletes.
            _ = try await fixture.jobs.retry(failed.id)
            try await fixture.expireLeaseAndReschedule(running.id)
            try await fixture.backdate([try await fixture.job(in: .cancelled, options: .init(queue: "hand")).id], by: .seconds(3 * 86_400))
            #expect(try await fixture.jobs.cleanup(olderThan: .seconds(86_400)) == 1)
            try await fixture.execute("UPDATE jobkit.jobs SET queue = 'moved' WHERE queue = 'small' AND ctid IN (SELECT ctid FROM jobkit.jobs WHERE queue = 'small' LIMIT 4)")
            try await fixture.execute("DELETE FROM jobkit.jobs WHERE queue = 'bulk' AND ctid IN (SELECT ctid FROM jobkit.jobs WHERE queue = 'bulk' LIMIT 30)")
            let stats = try await fixture.jobs.stats()

            #expect(stats.byQueue == (try await Self.countedByHand(fixture)))
            #expect(stats.byQueue["bulk"] == ["scheduled": 70])
            #expect(stats.byQueue["moved"] == ["scheduled": 4] && stats.byQueue["small"] == ["scheduled": 6])
            #expect(stats.total == (try await fixture.count("jobs")))
        }
    }

    @Test func countsDropToZeroWhenTheTableIsTruncated() async throws {
        try await withJobKitFixture("stats") { fixture in
            try await fixture.jobs.enqueueMany(Noop.self, Array(repeating: EmptyPayload(), count: 5))
            #expect(try await fixture.jobs.stats().total == 5)

            try await fixture.execute("TRUNCATE jobkit.jobs CASCADE")

            let stats = try await fixture.jobs.stats()
            #expect(stats.total == 0 && stats.byQueue.isEmpty)
        }
    }

    @Test func concurrentStatsCallsAndWritersNeverCountAChangeTwice() async throws {
        try await withJobKitFixture("stats") { fixture in
            let services = (0..<3).map { fixture.makeService(workerID: "reader-\($0)") }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for round in 0..<20 {
                        try await fixture.jobs.enqueueMany(Noop.self, Array(repeating: EmptyPayload(), count: 1 + round % 70))
                        _ = try await fixture.job(in: .done)
                    }
                }
                for service in services {
                    group.addTask {
                        for _ in 0..<15 { _ = try await service.stats() }
                    }
                }
                try await group.waitForAll()
            }

            let stats = try await fixture.jobs.stats()
            #expect(stats.byQueue == (try await Self.countedByHand(fixture)))
            // The last call folded every change it could see: nothing is left pending.
            #expect(try await fixture.count("job_count_changes") == 0)
        }
    }

    @Test func migratingCountsTheJobsAlreadyThere() async throws {
        try await withJobKitFixture("stats", migrate: false) { fixture in
            let migrator = Migrator(pool: fixture.pool)
            _ = try await migrator.migrateUp(to: 2)
            _ = try await fixture.insertFinishedJobs(40, status: .done, type: "old", finishedAgo: .seconds(60))
            _ = try await fixture.insertFinishedJobs(2, status: .failed, type: "old", finishedAgo: .seconds(60))

            _ = try await migrator.migrateUp()

            let stats = try await fixture.jobs.stats()
            #expect(stats.byType == ["old": ["done": 40, "failed": 2]])
        }
    }

    @Test func maintenanceFoldsPendingCountChanges() async throws {
        try await withJobKitFixture("stats") { fixture in
            try await fixture.jobs.enqueueMany(Noop.self, Array(repeating: EmptyPayload(), count: 3))
            #expect(try await fixture.count("job_count_changes") > 0)

            let report = try await MaintenanceService(service: fixture.jobs).runOnce()

            #expect(report.errors.isEmpty)
            #expect(try await fixture.count("job_count_changes") == 0)
            #expect(try await fixture.count("job_counts", where: "status = 'scheduled'") == 1)
        }
    }

    /// 100,000 rows in one statement: the counts, timings and oldest jobs are right on a table
    /// of real size. (What stats and health cost is measured by `jobkit-bench --workload T`.)
    @Test func statsOnABigTableAreExact() async throws {
        let rows = 100_000
        try await withJobKitFixture("cost") { fixture in
            // 60 % done, 10 % each failed, cancelled, scheduled and running (half of those stuck),
            // finished over the last two hours, over 4 queues and 8 types; ids ascending, as
            // UUIDv7 ids are.
            try await fixture.execute("""
                INSERT INTO jobkit.jobs (id, queue, job_type, status, progress, attempt, max_attempts, created_at, run_at,
                    started_at, finished_at, updated_at, lease_owner, lease_token, lease_expires_at)
                SELECT ('00000000-0000-7000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, 'queue-' || (i % 4), 'type-' || (i % 8), v.s::jobkit.job_status,
                    CASE WHEN v.s = 'done' THEN 100 ELSE 0 END, CASE WHEN v.s = 'scheduled' THEN 0 ELSE 1 END, 3,
                    v.t - interval '1 minute', v.t - interval '1 minute',
                    CASE WHEN v.s <> 'scheduled' THEN v.t - (1 + i % 30) * interval '1 second' END,
                    CASE WHEN v.s IN ('done', 'failed', 'cancelled') THEN v.t END,
                    v.t,
                    CASE WHEN v.s = 'in_progress' THEN 'worker-' || (i % 16) END,
                    CASE WHEN v.s = 'in_progress' THEN gen_random_uuid() END,
                    CASE WHEN v.s = 'in_progress' THEN now() + CASE WHEN i % 20 = 9 THEN interval '-1 hour' ELSE interval '1 hour' END END
                FROM generate_series(1, \(rows)) AS i,
                LATERAL (SELECT now() - (i % 7200) * interval '1 second' AS t,
                    CASE WHEN i % 10 < 6 THEN 'done' WHEN i % 10 = 6 THEN 'failed' WHEN i % 10 = 7 THEN 'cancelled'
                        WHEN i % 10 = 8 THEN 'scheduled' ELSE 'in_progress' END AS s) AS v
                """)
            try await fixture.execute("ANALYZE jobkit.jobs")

            let stats = try await fixture.jobs.stats()
            let oldest = try #require(try await fixture.pool.query("""
                SELECT min(run_at) FILTER (WHERE status = 'scheduled'), min(started_at) FILTER (WHERE status = 'in_progress')
                FROM jobkit.jobs
                """).first).decode((Date?, Date?).self)

            #expect(stats.total == rows)
            #expect(stats.byStatus == [
                "done": rows * 6 / 10, "failed": rows / 10, "cancelled": rows / 10, "scheduled": rows / 10, "in_progress": rows / 10,
            ])
            #expect(stats.byQueue == (try await Self.countedByHand(fixture)))
            #expect(stats.stuck == rows / 20 && stats.leased == rows / 20)
            #expect(stats.averageProcessingSeconds.map { $0 >= 1 && $0 <= 30 } == true)
            #expect(stats.oldestScheduledAt == oldest.0 && stats.oldestInProgressStartedAt == oldest.1)
            #expect((await fixture.jobs.health()).isHealthy)
        }
    }
}
