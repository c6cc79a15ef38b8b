import Foundation
import JobKit
import LibPQ
import Testing

/// Several operating-system processes (`jobkit-test-worker`, see WorkerProcess.swift) on one
/// database: the claim race across processes, a worker killed mid-job, a restart under the
/// same identity, and a graceful shutdown that hands running jobs over.
///
/// Every run of a job inserts `(job_id, worker_id)` into `mp_runs`, in the worker, outside the
/// job's own statements: a job that ran twice leaves two rows.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct MultiProcessTests {
    // MARK: - The workers' job types, as the enqueuing side sees them

    /// `mp.count` (run by `--mode drain`). This process only enqueues it.
    struct CountJob: JobHandler {
        struct Payload: Codable, Sendable { var n: Int }
        static let type = "mp.count"
        func run(_ payload: Payload, context: JobContext) async throws -> EmptyPayload {
            throw NotRunHere()
        }
    }

    /// `mp.block` (run by `--mode block`): records its start, then sleeps 10 minutes unless
    /// the worker has `--finish-blocked`. This process only enqueues it.
    struct BlockJob: JobHandler {
        typealias Payload = EmptyPayload
        static let type = "mp.block"
        static let retryPolicy = RetryPolicy(maxAttempts: 3)
        func run(_ payload: EmptyPayload, context: JobContext) async throws -> EmptyPayload {
            throw NotRunHere()
        }
    }

    struct NotRunHere: Error {}

    // MARK: - Tests

    @Test func tenThousandJobsAcrossTwoProcessesRunExactlyOnce() async throws {
        // The body is a function of its own: inside the fixture's closure it crashes Swift 6.3.1's
        // region-isolation checker (SendNonSendable, signal 6).
        try await withJobKitFixture("mp_drain") { try await Self.tenThousandJobsRunExactlyOnce($0) }
    }

    static func tenThousandJobsRunExactlyOnce(_ fixture: JobKitFixture) async throws {
        try await Self.createRunsTable(fixture)
        let ids = try await Self.drainTenThousandJobs(fixture)

        // Every process has exited: no run can still be on its way into mp_runs.
        let runs = try await fixture.pool.query("SELECT job_id, worker_id FROM mp_runs").map { try $0.decode((UUID, String).self) }
        #expect(runs.count == 10_000)
        var runsPerJob: [UUID: Int] = [:]
        for run in runs { runsPerJob[run.0, default: 0] += 1 }
        let expected = Set(ids)
        #expect(expected.count == 10_000)
        #expect(Set(runsPerJob.keys) == expected, "ran but not enqueued: \(Set(runsPerJob.keys).subtracting(expected).count), enqueued but not run: \(expected.subtracting(runsPerJob.keys).count)")
        let ranTwice = runsPerJob.filter { $0.value > 1 }
        #expect(ranTwice.isEmpty, "jobs that ran more than once: \(ranTwice.prefix(10))")

        let statuses = try await fixture.pool.query("SELECT status::text, count(*) FROM jobkit.jobs GROUP BY 1")
            .map { try $0.decode((String, Int).self) }
        #expect(Dictionary(uniqueKeysWithValues: statuses) == ["done": 10_000])

        var runsPerExecutor: [String: Int] = [:]
        for run in runs { runsPerExecutor[run.1, default: 0] += 1 }
        #expect(Set(runsPerExecutor.keys).isSubset(of: ["p1-a", "p1-b", "p2-a", "p2-b"]))
        let p1 = runsPerExecutor.filter { $0.key.hasPrefix("p1-") }.values.reduce(0, +)
        let p2 = runsPerExecutor.filter { $0.key.hasPrefix("p2-") }.values.reduce(0, +)
        #expect(p1 > 0 && p2 > 0, "runs per executor: \(runsPerExecutor)")
    }

    @Test func killedWorkersJobIsFinishedByAnotherAfterLeaseExpiry() async throws {
        try await withJobKitFixture("mp_kill") { fixture in
            try await Self.createRunsTable(fixture)
            let id = try await fixture.jobs.enqueue(BlockJob.self, EmptyPayload(), options: .init(maxAttempts: 3))
            try await withWorkerProcesses { workers in
                let lease = ["--lease-ms", "1000", "--heartbeat-ms", "300", "--rescue-ms", "300"]
                let a = try workers.start(name: "killed-a", arguments: Self.arguments(fixture, workerID: "killed-a", mode: "block", lease))
                try await a.waitUntilReady()
                try await Self.waitFor("worker A to start the job", watching: [a]) { try await Self.runs(of: id, fixture) == ["killed-a"] }
                a.kill()
                #expect(try await a.waitForExit() == .signalled(SIGKILL))

                // A is gone: what it left behind can no longer change.
                let left = try #require(try await Self.lease(of: id, fixture))
                #expect(left.status == "in_progress")
                #expect(left.owner == "killed-a")
                #expect(left.attempt == 1)
                let expiredAt = try #require(left.expiresAt)

                let b = try workers.start(name: "finisher-b", arguments: Self.arguments(
                    fixture, workerID: "finisher-b", mode: "block", lease + ["--finish-blocked"]))
                try await b.waitUntilReady()
                try await Self.waitFor("the job to be done", watching: [b]) { try await fixture.jobs.job(id).status == .done }

                let done = try #require(try await Self.lease(of: id, fixture))
                #expect(done.status == "done")
                #expect(done.owner == "finisher-b")
                #expect(done.attempt == 2)
                #expect(try await Self.runs(of: id, fixture) == ["killed-a", "finisher-b"])
                // Taken back because A's lease ran out (not earlier), then run by B.
                let rescues = try await fixture.jobs.history(of: id).filter { $0.kind == "rescued" }
                let rescue = try #require(rescues.onlyElement, "rescue events: \(rescues)")
                #expect(rescue.fromStatus == .inProgress)
                #expect(rescue.toStatus == .scheduled)
                #expect(rescue.attempt == 1)
                #expect(rescue.message?.contains("killed-a") == true)
                #expect(rescue.at > expiredAt)
                let startedByB = try #require(try await Self.runStart(of: id, by: "finisher-b", fixture))
                #expect(startedByB > expiredAt)

                b.terminate()
                #expect(try await b.waitForExit() == .exited(0))
            }
        }
    }

    @Test func aKeyLimitHoldsAcrossTwoProcessesRacingForTheSameKeys() async throws {
        // A function of its own, as tenThousandJobsRunExactlyOnce is (the checker crash).
        try await withJobKitFixture("mp_keys") { try await Self.keyLimitHoldsAcrossProcesses($0) }
    }

    static func keyLimitHoldsAcrossProcesses(_ fixture: JobKitFixture) async throws {
        try await Self.createRunsTable(fixture)
        try await fixture.jobs.configureQueue("default", QueueSettings(keyLimit: 1))
        let ids = try await withWorkerProcesses { workers in
            let processes = try ["k1", "k2"].map { name in
                try workers.start(name: name, arguments: Self.arguments(
                    fixture, workerID: name, mode: "drain", concurrency: 4, logLevel: "info",
                    ["--executors", "2", "--job-ms", "10", "--lease-ms", "10000", "--poll-ms", "200"]))
            }
            for process in processes { try await process.waitUntilReady() }
            // 16 slots in four executors of two processes, racing for 4 keys.
            var ids: [UUID] = []
            for key in 0..<4 {
                ids += try await fixture.jobs.enqueueMany(
                    CountJob.self, (0..<25).map { CountJob.Payload(n: $0) }, options: .init(concurrencyKey: "key-\(key)"))
            }
            try await Self.waitFor("all 100 jobs to be done", timeout: .seconds(120), interval: .milliseconds(100), watching: processes) {
                try await fixture.count("jobs", where: "status = 'done'") == 100
            }
            // A claim that lost a race for a slot is made again without a word; one that failed
            // five times running would be logged.
            try await Self.stopQuietly(processes)
            return ids
        }

        // By the database's clock, each key's runs follow one another: none starts before the
        // one before it has finished.
        #expect(try await Self.overlappingRunsOfOneKey(fixture) == 0)
        let runs = try await fixture.pool.query("SELECT job_id, worker_id FROM mp_runs").map { try $0.decode((UUID, String).self) }
        #expect(runs.count == 100 && Set(runs.map(\.0)) == Set(ids), "runs: \(runs.count), distinct: \(Set(runs.map(\.0)).count)")
    }

    @Test func aKilledWorkersJobHoldsItsKeyUntilItsLeaseRunsOut() async throws {
        try await withJobKitFixture("mp_key_kill") { fixture in
            try await Self.createRunsTable(fixture)
            try await fixture.jobs.configureQueue("default", QueueSettings(keyLimit: 1))
            let first = try await fixture.jobs.enqueue(BlockJob.self, EmptyPayload(), options: .init(maxAttempts: 3, concurrencyKey: "acme"))
            try await withWorkerProcesses { workers in
                let lease = ["--lease-ms", "1000", "--heartbeat-ms", "300", "--rescue-ms", "300"]
                let a = try workers.start(name: "killed-a", arguments: Self.arguments(fixture, workerID: "killed-a", mode: "block", lease))
                try await a.waitUntilReady()
                try await Self.waitFor("worker A to start the first job", watching: [a]) { try await Self.runs(of: first, fixture) == ["killed-a"] }
                a.kill()
                #expect(try await a.waitForExit() == .signalled(SIGKILL))
                let expiredAt = try #require(try await Self.lease(of: first, fixture)?.expiresAt)

                // A second job of the key, and a worker with room for both.
                let second = try await fixture.jobs.enqueue(BlockJob.self, EmptyPayload(), options: .init(concurrencyKey: "acme"))
                let b = try workers.start(name: "finisher-b", arguments: Self.arguments(
                    fixture, workerID: "finisher-b", mode: "block", concurrency: 2, lease + ["--finish-blocked"]))
                try await b.waitUntilReady()
                try await Self.waitFor("both jobs to be done", watching: [b]) {
                    try await fixture.count("jobs", where: "status = 'done'") == 2
                }

                // The dead worker's job kept the key's only slot until its lease ran out: the
                // second job started after that, and the two never ran at once.
                let secondStart = try #require(try await Self.runStart(of: second, by: "finisher-b", fixture))
                #expect(secondStart > expiredAt)
                #expect(try await Self.overlappingRunsOfOneKey(fixture, excluding: "killed-a") == 0)
                #expect(try await Self.runs(of: first, fixture) == ["killed-a", "finisher-b"])
                #expect(try await Self.runs(of: second, fixture) == ["finisher-b"])

                b.terminate()
                #expect(try await b.waitForExit() == .exited(0))
            }
        }
    }

    @Test func restartWithSameIdentityReclaimsAtOnce() async throws {
        try await withJobKitFixture("mp_restart") { fixture in
            try await Self.createRunsTable(fixture)
            let id = try await fixture.jobs.enqueue(BlockJob.self, EmptyPayload(), options: .init(maxAttempts: 3))
            try await withWorkerProcesses { workers in
                // A long lease: its expiry must not be what frees the job.
                let lease = ["--lease-ms", "60000", "--heartbeat-ms", "300", "--rescue-ms", "300"]
                let first = try workers.start(name: "w1 (first)", arguments: Self.arguments(fixture, workerID: "w1", mode: "block", lease))
                try await first.waitUntilReady()
                try await Self.waitFor("w1 to start the job", watching: [first]) { try await Self.runs(of: id, fixture) == ["w1"] }
                first.kill()
                #expect(try await first.waitForExit() == .signalled(SIGKILL))
                let left = try #require(try await Self.lease(of: id, fixture))
                #expect(left.status == "in_progress")
                #expect(left.owner == "w1")
                #expect(left.attempt == 1)
                let expiresAt = try #require(left.expiresAt)

                let second = try workers.start(name: "w1 (restarted)", arguments: Self.arguments(
                    fixture, workerID: "w1", mode: "block", lease + ["--finish-blocked"]))
                try await second.waitUntilReady()
                // 15 s bounds the wait; the promise itself is checked against the lease below.
                try await Self.waitFor("the restarted w1 to finish the job", timeout: .seconds(15), watching: [second]) {
                    try await fixture.jobs.job(id).status == .done
                }

                let done = try #require(try await Self.lease(of: id, fixture))
                #expect(done.status == "done")
                #expect(done.owner == "w1")
                #expect(done.attempt == 2)
                let finishedAt = try #require(try await fixture.jobs.job(id).finishedAt)
                #expect(finishedAt < expiresAt, "finished \(expiresAt.timeIntervalSince(finishedAt)) s before the old lease expired")
                #expect(try await Self.runs(of: id, fixture) == ["w1", "w1"])
                let rescues = try await fixture.jobs.history(of: id).filter { $0.kind == "rescued" }
                let rescue = try #require(rescues.onlyElement, "rescue events: \(rescues)")
                #expect(rescue.attempt == 1)
                #expect(rescue.toStatus == .scheduled)

                second.terminate()
                #expect(try await second.waitForExit() == .exited(0))
            }
        }
    }

    @Test func sigtermReleasesRunningJobsForAnotherWorker() async throws {
        try await withJobKitFixture("mp_sigterm") { fixture in
            try await Self.createRunsTable(fixture)
            let id = try await fixture.jobs.enqueue(BlockJob.self, EmptyPayload(), options: .init(maxAttempts: 3))
            try await withWorkerProcesses { workers in
                // A long lease: only the release can hand the job over in time.
                let lease = ["--lease-ms", "60000", "--heartbeat-ms", "300", "--rescue-ms", "300"]
                let a = try workers.start(name: "stopping-a", arguments: Self.arguments(
                    fixture, workerID: "stopping-a", mode: "block", lease + ["--grace-ms", "500"]))
                try await a.waitUntilReady()
                try await Self.waitFor("worker A to start the job", watching: [a]) { try await Self.runs(of: id, fixture) == ["stopping-a"] }
                a.terminate()
                let exit = try await a.waitForExit()
                #expect(exit == .exited(0), "worker A \(exit); its log:\n\(a.log)")

                let released = try #require(try await Self.lease(of: id, fixture))
                #expect(released.status == "scheduled", "A's log:\n\(a.log)")
                #expect(released.attempt == 0)
                #expect(released.token == nil)
                #expect(released.expiresAt == nil)
                let isClaimable = try await fixture.pool.query("SELECT run_at <= now() FROM jobkit.jobs WHERE id = \(id)")
                    .first?.decode(Bool.self, at: 0)
                #expect(isClaimable == true)
                let events = try await fixture.jobs.history(of: id)
                #expect(events.map(\.kind) == ["released"], "events: \(events)")

                let b = try workers.start(name: "finisher-b", arguments: Self.arguments(
                    fixture, workerID: "finisher-b", mode: "block", lease + ["--finish-blocked"]))
                try await b.waitUntilReady()
                try await Self.waitFor("worker B to finish the job", timeout: .seconds(15), watching: [b]) {
                    try await fixture.jobs.job(id).status == .done
                }
                let done = try #require(try await Self.lease(of: id, fixture))
                #expect(done.status == "done")
                #expect(done.owner == "finisher-b")
                #expect(done.attempt == 1)
                #expect(try await Self.runs(of: id, fixture) == ["stopping-a", "finisher-b"])

                b.terminate()
                #expect(try await b.waitForExit() == .exited(0))
            }
        }
    }

    @Test func sigtermMidDrainLeavesEveryJobDoneOrScheduled() async throws {
        try await withJobKitFixture("mp_sigterm_drain") { try await Self.sigtermMidDrain($0) }
    }

    /// 300 jobs of 40 ms each, 8 at a time, and a grace period shorter than a job: SIGTERM
    /// mid-drain stops the claims, lets what can finish finish and releases the rest. Every job
    /// is then `done` or back in `scheduled` without a lease or a spent attempt; a second worker
    /// finishes them all, and only a released job ever ran twice.
    static func sigtermMidDrain(_ fixture: JobKitFixture) async throws {
        try await Self.createRunsTable(fixture)
        let ids = try await fixture.jobs.enqueueMany(CountJob.self, (0..<300).map { CountJob.Payload(n: $0) })
        try await withWorkerProcesses { workers in
            let a = try workers.start(name: "draining-a", arguments: Self.arguments(
                fixture, workerID: "draining-a", mode: "drain", concurrency: 8, logLevel: "info",
                ["--job-ms", "40", "--grace-ms", "10", "--lease-ms", "60000", "--poll-ms", "200"]))
            try await a.waitUntilReady()
            try await Self.waitFor("worker A to finish some jobs", watching: [a]) {
                try await fixture.count("jobs", where: "status = 'done'") >= 40
            }
            a.terminate()
            let exit = try await a.waitForExit()
            #expect(exit == .exited(0), "worker A \(exit); its log:\n\(a.log)")

            let statuses = try await fixture.pool.query("SELECT status::text, count(*) FROM jobkit.jobs GROUP BY 1")
                .map { try $0.decode((String, Int).self) }
            let byStatus = Dictionary(uniqueKeysWithValues: statuses)
            #expect(Set(byStatus.keys).isSubset(of: ["done", "scheduled"]), "after SIGTERM: \(byStatus)")
            #expect(byStatus.values.reduce(0, +) == 300)
            #expect((byStatus["scheduled"] ?? 0) > 0, "A drained everything before the SIGTERM: \(byStatus)")
            #expect(try await fixture.count("jobs", where: "status = 'scheduled' AND (lease_token IS NOT NULL OR attempt <> 0)") == 0)

            let b = try workers.start(name: "finishing-b", arguments: Self.arguments(
                fixture, workerID: "finishing-b", mode: "drain", concurrency: 8, logLevel: "info", ["--poll-ms", "200"]))
            try await b.waitUntilReady()
            try await Self.waitFor("worker B to finish the rest", timeout: .seconds(60), watching: [b]) {
                try await fixture.count("jobs", where: "status = 'done'") == 300
            }
            b.terminate()
            #expect(try await b.waitForExit() == .exited(0), "worker B's log:\n\(b.log)")
        }

        let runs = try await fixture.pool.query("SELECT job_id, count(*) FROM mp_runs GROUP BY 1").map { try $0.decode((UUID, Int).self) }
        #expect(Set(runs.map(\.0)) == Set(ids))
        let released = Set(try await fixture.pool.query("SELECT job_id FROM jobkit.job_events WHERE kind = 'released'")
            .map { try $0.decode(UUID.self, at: 0) })
        let ranTwice = Set(runs.filter { $0.1 > 1 }.map(\.0))
        #expect(ranTwice.isSubset(of: released), "ran twice without being released: \(ranTwice.subtracting(released))")
        #expect(runs.allSatisfy { $0.1 <= 2 })
    }

    // MARK: - Helpers

    /// Starts two processes of two executors each, enqueues 10,000 `mp.count` jobs once both are
    /// ready, waits until every job is done, then stops both gracefully (exit 0).
    /// - Returns: The enqueued ids.
    static func drainTenThousandJobs(_ fixture: JobKitFixture) async throws -> [UUID] {
        try await withWorkerProcesses { workers in
            // Frequent heartbeats, so lease renewals and outcome writes overlap often; a lease long
            // enough that a process starved of CPU on a busy machine does not lose its jobs (a
            // legitimate second run): this test is about claiming, renewing and finishing at once.
            let processes = try ["p1", "p2"].map { name in
                try workers.start(name: name, arguments: Self.arguments(
                    fixture, workerID: name, mode: "drain", concurrency: 8, logLevel: "info",
                    ["--executors", "2", "--lease-ms", "10000", "--heartbeat-ms", "300", "--rescue-ms", "300",
                     "--poll-ms", "200", "--pool-size", "12"]))
            }
            for process in processes { try await process.waitUntilReady() }
            // Enqueued once both processes listen, so neither can drain the queue alone
            // before the other has started.
            let ids = try await fixture.jobs.enqueueMany(CountJob.self, (0..<10_000).map { CountJob.Payload(n: $0) })
            try await Self.waitFor("all 10,000 jobs to be done", timeout: .seconds(180), interval: .milliseconds(100), watching: processes) {
                try await fixture.count("jobs", where: "status = 'done'") == 10_000
            }
            try await Self.stopQuietly(processes)
            return ids
        }
    }

    /// Stops `processes` gracefully (SIGTERM) and expects each to exit 0 having logged nothing:
    /// at level info a worker logs only trouble it could not throw, such as a failed claim,
    /// renewal or write (a deadlock between them, say), or an outcome refused.
    static func stopQuietly(_ processes: [WorkerProcess]) async throws {
        for process in processes { process.terminate() }
        for process in processes {
            let exit = try await process.waitForExit()
            #expect(exit == .exited(0), "worker \(process.name) \(exit); its log:\n\(process.log)")
            #expect(process.log.isEmpty, "worker \(process.name) reported trouble:\n\(process.log.prefix(4000))")
        }
    }

    /// The side-effect table every worker run writes to.
    static func createRunsTable(_ fixture: JobKitFixture) async throws {
        try await fixture.pool.query("""
            CREATE TABLE mp_runs (
                seq bigserial PRIMARY KEY,
                job_id uuid NOT NULL,
                worker_id text NOT NULL,
                at timestamptz NOT NULL DEFAULT clock_timestamp())
            """)
    }

    /// How many runs (of workers other than `excluded`) began, by the handler's own clock reading
    /// in `mp_runs`, before the job run just before them of the same key had finished
    /// (`finished_at`, written after its handler returned). A job's `started_at` would not do: it
    /// is its claim's transaction start, which may precede the commit of the finish it saw.
    static func overlappingRunsOfOneKey(_ fixture: JobKitFixture, excluding excluded: String = "") async throws -> Int? {
        try await fixture.pool.query("""
            SELECT count(*) FROM (
                SELECT r.at, lag(j.finished_at) OVER (PARTITION BY j.concurrency_key ORDER BY r.at) AS previous_end
                FROM mp_runs AS r JOIN jobkit.jobs AS j ON j.id = r.job_id WHERE r.worker_id <> \(excluded)) AS runs
            WHERE at < previous_end
            """).first?.decode(Int.self, at: 0)
    }

    /// A worker's command line on the fixture's database. Its log (stderr) shows in failures.
    static func arguments(
        _ fixture: JobKitFixture, workerID: String, mode: String, concurrency: Int = 1, logLevel: String = "debug",
        _ extra: [String] = []
    ) -> [String] {
        ["--database-url", fixture.configuration.connectionString, "--worker-id", workerID,
         "--concurrency", "\(concurrency)", "--mode", mode, "--log-level", logLevel] + extra
    }

    /// The workers that ran `id`, in order.
    static func runs(of id: UUID, _ fixture: JobKitFixture) async throws -> [String] {
        try await fixture.pool.query("SELECT worker_id FROM mp_runs WHERE job_id = \(id) ORDER BY seq")
            .map { try $0.decode(String.self, at: 0) }
    }

    /// When `workerID` started running `id`, by the database's clock.
    static func runStart(of id: UUID, by workerID: String, _ fixture: JobKitFixture) async throws -> Date? {
        try await fixture.pool.query("SELECT min(at) FROM mp_runs WHERE job_id = \(id) AND worker_id = \(workerID)")
            .first?.decode(Date?.self, at: 0)
    }

    struct LeaseColumns {
        var status: String
        var attempt: Int
        var owner: String?
        var token: UUID?
        var expiresAt: Date?
    }

    /// The job's status, attempt and lease columns as stored.
    static func lease(of id: UUID, _ fixture: JobKitFixture) async throws -> LeaseColumns? {
        try await fixture.pool.query("""
            SELECT status::text, attempt, lease_owner, lease_token, lease_expires_at FROM jobkit.jobs WHERE id = \(id)
            """).first.map { row in
            let (status, attempt, owner, token, expiresAt) = try row.decode((String, Int, String?, UUID?, Date?).self)
            return LeaseColumns(status: status, attempt: attempt, owner: owner, token: token, expiresAt: expiresAt)
        }
    }

    /// Polls `condition` until it holds. Fails at once, with its log, if one of `workers` exits,
    /// and after `timeout` with every watched worker's log.
    static func waitFor(
        _ what: String,
        timeout: Duration = .seconds(30),
        interval: Duration = .milliseconds(20),
        watching workers: [WorkerProcess],
        _ condition: () async throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        while try await !condition() {
            if let gone = workers.first(where: { $0.exit != nil }), let exit = gone.exit {
                throw WorkerProcess.Failure(description: "worker \(gone.name) \(exit) while waiting for \(what); its log:\n\(gone.log)")
            }
            guard ContinuousClock.now < deadline else {
                let logs = workers.map { "--- \($0.name):\n\($0.log)" }.joined(separator: "\n")
                throw WorkerProcess.Failure(description: "timed out after \(timeout) waiting for \(what)\n\(logs)")
            }
            try await Task.sleep(for: interval)
        }
    }
}
