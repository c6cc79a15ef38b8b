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
        try await self.jobs.enqueueMany(NoopJob.self, payloads)
        let preloaded = try await self.countJobs()
        guard preloaded == self.n else { throw BenchFailure("count(*) is \(preloaded) after preloading \(self.n) jobs") }

        let recorder = RunRecorder(target: self.n, recordsLatency: false)
        let executor = self.executor(recorder)
        let clock = ContinuousClock()
        let start = clock.now
        let running = Task { try await executor.run() }
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
        running.cancel()
        try? await running.value
        let done = try await self.countJobs(status: "done")
        guard done == self.n else { throw BenchFailure("\(done) of \(self.n) jobs are done") }

        var report = Report()
        report["preloaded"] = preloaded
        report["seconds"] = elapsed
        report["jobs_per_sec"] = Double(self.n) / elapsed
        report["seconds_to_last_handler"] = lastHandler
        report["handler_runs"] = recorder.count
        report["done_rows"] = done
        self.describeExecutor(executor, in: &report)
        return report
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

    private func countJobs(status: String? = nil) async throws -> Int {
        let table = "\(self.jobs.configuration.schema).jobs"
        let query: PostgresQuery = status.map { "SELECT count(*) FROM \(unescaped: table) WHERE status::text = \($0)" }
            ?? "SELECT count(*) FROM \(unescaped: table)"
        return try await self.observer.query(query).first?.decode(Int.self, at: 0) ?? -1
    }

    private func countUnfinished() async throws -> Int {
        let table = "\(self.jobs.configuration.schema).jobs"
        let rows = try await self.observer.query(
            "SELECT count(*) FROM \(unescaped: table) WHERE status IN ('scheduled', 'in_progress')")
        return try rows.first?.decode(Int.self, at: 0) ?? -1
    }
}
