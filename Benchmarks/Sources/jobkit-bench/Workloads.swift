import Foundation
import JobKit
import LibPQ

/// The four workloads, each through JobKit's public API with its defaults.
struct Workloads {
    let jobs: JobService
    /// A connection of its own, outside JobKit's pool.
    let observer: PostgresConnection
    let n: Int
    /// JobKit's defaults but for the concurrency (and what the command's flags change).
    let executorConfiguration: JobExecutor.Configuration
    let intervalMs: Double
    /// B: a fleet-wide per-key limit on the queue.
    let keyLimit: Int?
    /// B: the number of concurrency keys the jobs spread over (`nil`: no key).
    let keys: Int?
    /// B: periodic schedules registered (and a scheduler leading them) while draining.
    var schedules = 0

    // MARK: - A: bulk enqueue

    func bulkEnqueue() async throws -> Report {
        let clock = ContinuousClock()
        let start = clock.now
        var payloads: [BenchPayload] = []
        payloads.reserveCapacity(self.n)
        for _ in 0..<self.n { payloads.append(BenchPayload(ts: wallClock())) }
        try await self.jobs.enqueueMany(NoopJob.self, payloads)
        let elapsed = (clock.now - start).seconds
        let rows = try await self.countJobs()
        guard rows == self.n else { throw BenchFailure("count(*) is \(rows) after enqueueing \(self.n) jobs") }
        var report = Report()
        report["seconds"] = elapsed
        report["jobs_per_sec"] = Double(self.n) / elapsed
        report["rows_in_queue"] = rows
        report["api"] = "JobService.enqueueMany (one call, N jobs)"
        return report
    }

    // MARK: - S: single enqueue

    func singleEnqueue() async throws -> Report {
        let clock = ContinuousClock()
        let start = clock.now
        for _ in 0..<self.n {
            try await self.jobs.enqueue(NoopJob.self, BenchPayload(ts: wallClock()))
        }
        let elapsed = (clock.now - start).seconds
        let rows = try await self.countJobs()
        guard rows == self.n else { throw BenchFailure("count(*) is \(rows) after enqueueing \(self.n) jobs") }
        var report = Report()
        report["seconds"] = elapsed
        report["jobs_per_sec"] = Double(self.n) / elapsed
        report["rows_in_queue"] = rows
        report["api"] = "JobService.enqueue, sequential, one job per call"
        return report
    }

    // MARK: - B: drain

    func drain() async throws -> Report {
        let payloads = (0..<self.n).map { _ in BenchPayload(ts: wallClock()) }
        if let keys {
            if let keyLimit { try await self.jobs.configureQueue("default", QueueSettings(keyLimit: keyLimit)) }
            // Job i has key i mod keys, so the keys interleave in claim order. All in one
            // transaction, as plain B's one COPY: every job has the same run-at (the
            // transaction's now()), so the claim order is the insertion order, and the claim
            // index has the shape plain B's has. A call's jobs share their options: one call per job.
            try await self.jobs.pool.withTransaction { connection in
                for (index, payload) in payloads.enumerated() {
                    try await self.jobs.enqueue(NoopJob.self, payload, options: JobOptions(concurrencyKey: "key-\(index % keys)"), on: connection)
                }
            }
        } else {
            try await self.jobs.enqueueMany(NoopJob.self, payloads)
        }
        let preloaded = try await self.countJobs()
        guard preloaded == self.n else { throw BenchFailure("count(*) is \(preloaded) after preloading \(self.n) jobs") }

        let recorder = RunRecorder(target: self.n, recordsLatency: false)
        let executor = self.executor(recorder)
        let scheduler = self.schedules > 0 ? try self.scheduler() : nil
        let clock = ContinuousClock()
        let start = clock.now
        let running = Task { try await executor.run() }
        // The scheduler registers its schedules and leads them inside the timed part.
        let scheduling = scheduler.map { scheduler in Task { try await scheduler.run() } }
        let reached = await recorder.waitForTarget(timeout: .seconds(600))
        guard reached else {
            running.cancel()
            _ = try? await running.value
            throw BenchFailure("the handler ran \(recorder.count) of \(self.n) times in 600 s")
        }
        let lastHandler = ((recorder.reachedAt ?? clock.now) - start).seconds
        // Every handler ran: wait until the outcomes are written, as a separate connection sees it.
        while try await self.countUnfinished() > 0 {
            try await Task.sleep(for: .milliseconds(10))
        }
        let elapsed = (clock.now - start).seconds
        let schedulerLed = scheduler?.isLeader ?? false
        running.cancel()
        try? await running.value
        scheduling?.cancel()
        try? await scheduling?.value
        let done = try await self.countJobs(status: "done")
        guard done == self.n else { throw BenchFailure("\(done) of \(self.n) jobs are done") }

        var report = Report()
        report["preloaded"] = preloaded
        report["seconds"] = elapsed
        report["jobs_per_sec"] = Double(self.n) / elapsed
        report["seconds_to_last_handler"] = lastHandler
        report["handler_runs"] = recorder.count
        report["done_rows"] = done
        if let keyLimit { report["key_limit"] = keyLimit }
        if let keys { report["keys"] = keys }
        self.describeExecutor(executor, in: &report)
        if scheduler != nil {
            report["schedules"] = self.schedules
            report["schedule_jobs_enqueued"] = try await self.countJobs(queue: Self.scheduleQueue)
            report["scheduler_led"] = schedulerLed
            try await self.measureTickCost(in: &report)
        }
        return report
    }

    // MARK: - B with periodic schedules

    /// The queue the benchmark's schedules enqueue into: no executor serves it, so their jobs
    /// neither count towards B nor take its workers.
    static let scheduleQueue = "bench-cron"

    /// N hourly schedules, spread evenly over the hour (one tick every 3,600 / N seconds).
    private func benchSchedules(prefix: String = "bench") throws -> [JobSchedule] {
        try (0..<self.schedules).map { index in
            let second = index * 3600 / self.schedules
            return try JobSchedule(
                "\(prefix)-\(index)", jobType: "bench.cron", timing: .cron(try CronExpression("\(second % 60) \(second / 60) * * * *")),
                options: .init(queue: Self.scheduleQueue))
        }
    }

    private func scheduler() throws -> JobScheduler {
        JobScheduler(service: self.jobs, schedules: try self.benchSchedules())
    }

    /// Untimed, after the drain: what registering N schedules costs, and one pass of the
    /// scheduler with all N due at once (N jobs in one statement): the worst tick.
    private func measureTickCost(in report: inout Report) async throws {
        let clock = ContinuousClock()
        _ = try await self.observer.query("DELETE FROM \(unescaped: self.jobs.configuration.schema).schedules")
        let schedules = try self.benchSchedules(prefix: "burst")
        let registeredAt = Date()
        var start = clock.now
        try await self.jobs.registerSchedules(schedules, at: registeredAt)
        report["register_ms"] = (clock.now - start).seconds * 1000
        start = clock.now
        try await self.jobs.registerSchedules(schedules, at: registeredAt)
        report["register_unchanged_ms"] = (clock.now - start).seconds * 1000
        // An hour later every one of them is due: one pass enqueues them all.
        let pass = JobScheduler(service: self.jobs, configuration: .init(missedTickThreshold: .seconds(7200), batchSize: max(1, self.schedules * 2)))
        start = clock.now
        let all = try await pass.runOnce(at: registeredAt.addingTimeInterval(3601))
        report["tick_all_ms"] = (clock.now - start).seconds * 1000
        report["tick_all_enqueued"] = all.enqueued
        start = clock.now
        _ = try await pass.runOnce(at: registeredAt.addingTimeInterval(3601))
        report["idle_pass_ms"] = (clock.now - start).seconds * 1000
    }

    // MARK: - C: enqueue-to-start latency

    func latency() async throws -> Report {
        let recorder = RunRecorder(target: self.n, recordsLatency: true)
        let executor = self.executor(recorder)
        let running = Task { try await executor.run() }
        // Let the executor go idle: LISTEN established, first (empty) claim done.
        try await Task.sleep(for: .milliseconds(1500))

        let clock = ContinuousClock()
        let start = clock.now
        let interval = Duration.microseconds(Int64((self.intervalMs * 1000).rounded()))
        for i in 0..<self.n {
            try await self.jobs.enqueue(NoopJob.self, BenchPayload(ts: wallClock()))
            let next = start + interval * (i + 1)
            if next > clock.now { try await Task.sleep(until: next, clock: clock) }
        }
        let reached = await recorder.waitForTarget(timeout: .seconds(60))
        running.cancel()
        try? await running.value
        guard reached else { throw BenchFailure("the handler ran \(recorder.count) of \(self.n) times") }

        var report = Latency.summary(seconds: recorder.latencies)
        report["interval_ms"] = self.intervalMs
        self.describeExecutor(executor, in: &report)
        return report
    }

    // MARK: - R and M: the tracked-job lifecycle (issue 4's benchmark, not a BENCHMARKS.md workload)

    /// R: N sequential `runAsJob` calls around an empty closure; the time and the commits per call.
    func runAsJobOverhead() async throws -> Report {
        let commitsBefore = try await self.commits()
        let clock = ContinuousClock()
        var perCall: [Double] = []
        perCall.reserveCapacity(self.n)
        let start = clock.now
        for _ in 0..<self.n {
            let began = clock.now
            _ = try await self.jobs.runAsJob("bench.empty") { _ in EmptyPayload() }
            perCall.append((clock.now - began).seconds)
        }
        let elapsed = (clock.now - start).seconds
        // Backends report their counters lazily (up to 10 s after going idle): wait them out.
        try await Task.sleep(for: .seconds(11))
        // The observer's own reading of the counter is one more commit.
        let commits = try await self.commits() - commitsBefore - 1
        let done = try await self.countJobs(status: "done")
        guard done == self.n else { throw BenchFailure("\(done) of \(self.n) jobs are done") }
        let sorted = perCall.sorted()
        var report = Report()
        report["seconds"] = elapsed
        report["calls_per_sec"] = Double(self.n) / elapsed
        report["median_us"] = Latency.percentile(sorted, 0.5) * 1_000_000
        report["p99_us"] = Latency.percentile(sorted, 0.99) * 1_000_000
        report["commits_per_call"] = Double(commits) / Double(self.n)
        report["api"] = "JobService.runAsJob around an empty closure, sequential"
        return report
    }

    /// M: N sequential create → start → complete by hand.
    func manualLifecycle() async throws -> Report {
        let clock = ContinuousClock()
        let start = clock.now
        for _ in 0..<self.n {
            let job = try await self.jobs.create("bench.manual")
            let started = try await self.jobs.start(job.id)
            try await self.jobs.complete(job.id, lease: started.lease?.token)
        }
        let elapsed = (clock.now - start).seconds
        let done = try await self.countJobs(status: "done")
        guard done == self.n else { throw BenchFailure("\(done) of \(self.n) jobs are done") }
        var report = Report()
        report["seconds"] = elapsed
        report["jobs_per_sec"] = Double(self.n) / elapsed
        report["api"] = "JobService.create, start, complete; sequential"
        return report
    }

    // MARK: - T: stats and health on a big table (issue 6's benchmark)

    /// T: N jobs inserted by one statement (90 % done, 5 % failed, 2 % cancelled, 2.5 % scheduled,
    /// 0.5 % running; finished over the last 24 hours, 4 queues, 12 types), then 20 calls each of
    /// `stats()` and `health()`, timed one by one.
    func statsAndHealth() async throws -> Report {
        let schema = self.jobs.configuration.schema
        let table = "\(schema).jobs"
        _ = try await self.observer.query("""
            INSERT INTO \(unescaped: table) (id, queue, job_type, status, attempt, max_attempts, progress, run_at, created_at,
                started_at, finished_at, lease_owner, lease_token, lease_expires_at)
            SELECT gen_random_uuid(), 'queue-' || (i % 4), 'type-' || (i % 12), v.status::\(unescaped: schema).job_status,
                CASE WHEN v.status = 'scheduled' THEN 0 ELSE 1 END, 3, CASE WHEN v.status = 'done' THEN 100 ELSE 0 END,
                v.at, v.at - interval '1 minute',
                CASE WHEN v.status <> 'scheduled' THEN v.at END,
                CASE WHEN v.status IN ('done', 'failed', 'cancelled') THEN v.at + (1 + i % 5) * interval '1 second' END,
                CASE WHEN v.status = 'in_progress' THEN 'worker-' || (i % 16) END,
                CASE WHEN v.status = 'in_progress' THEN gen_random_uuid() END,
                CASE WHEN v.status = 'in_progress' THEN now() + interval '1 hour' END
            FROM generate_series(1, \(self.n)) AS i,
            LATERAL (SELECT now() - (i % 86400) * interval '1 second' AS at,
                CASE WHEN i % 200 < 180 THEN 'done' WHEN i % 200 < 190 THEN 'failed' WHEN i % 200 < 194 THEN 'cancelled'
                    WHEN i % 200 < 199 THEN 'scheduled' ELSE 'in_progress' END AS status) AS v
            """)
        _ = try await self.observer.query("VACUUM ANALYZE \(unescaped: table)")
        let clock = ContinuousClock()
        var statsSeconds: [Double] = []
        var healthSeconds: [Double] = []
        var total = 0
        for _ in 0..<20 {
            let began = clock.now
            total = try await self.jobs.stats().total
            statsSeconds.append((clock.now - began).seconds)
            let healthBegan = clock.now
            _ = await self.jobs.health()
            healthSeconds.append((clock.now - healthBegan).seconds)
        }
        guard total == self.n else { throw BenchFailure("stats() counted \(total) of \(self.n) jobs") }
        let stats = statsSeconds.sorted()
        let health = healthSeconds.sorted()
        var report = Report()
        report["stats_median_ms"] = Latency.percentile(stats, 0.5) * 1000
        report["stats_max_ms"] = stats[stats.count - 1] * 1000
        report["health_median_ms"] = Latency.percentile(health, 0.5) * 1000
        report["health_max_ms"] = health[health.count - 1] * 1000
        report["api"] = "JobService.stats() and health(), 20 calls each, on N mostly finished jobs"
        return report
    }

    private func commits() async throws -> Int {
        let rows = try await self.observer.query("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
        // pg_stat_database is updated when a backend reports; force our view of it to be fresh.
        _ = try await self.observer.query("SELECT pg_stat_clear_snapshot()")
        return try rows.first?.decode(Int.self, at: 0) ?? 0
    }

    // MARK: - Helpers

    private func executor(_ recorder: RunRecorder) -> JobExecutor {
        JobExecutor(service: self.jobs, handlers: [NoopJob(recorder: recorder)], configuration: self.executorConfiguration)
    }

    private func describeExecutor(_ executor: JobExecutor, in report: inout Report) {
        report["workers"] = executor.configuration.concurrency
        report["executor_poll_interval_ms"] = Int(executor.configuration.pollInterval.seconds * 1000)
        report["executor_uses_notifications"] = executor.configuration.usesNotifications
    }

    private func countJobs(queue: String) async throws -> Int {
        let table = "\(self.jobs.configuration.schema).jobs"
        return try await self.observer.query("SELECT count(*) FROM \(unescaped: table) WHERE queue = \(queue)").first?.decode(Int.self, at: 0) ?? -1
    }

    private func countJobs(status: String? = nil) async throws -> Int {
        let table = "\(self.jobs.configuration.schema).jobs"
        let query: PostgresQuery = status.map { "SELECT count(*) FROM \(unescaped: table) WHERE status::text = \($0)" }
            ?? "SELECT count(*) FROM \(unescaped: table)"
        return try await self.observer.query(query).first?.decode(Int.self, at: 0) ?? -1
    }

    private func countUnfinished() async throws -> Int {
        let table = "\(self.jobs.configuration.schema).jobs"
        let rows = try await self.observer.query(
            "SELECT count(*) FROM \(unescaped: table) WHERE status IN ('scheduled', 'in_progress') AND queue <> \(Self.scheduleQueue)")
        return try rows.first?.decode(Int.self, at: 0) ?? -1
    }
}
