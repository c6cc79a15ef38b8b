import Foundation
import JobKit
import LibPQ
import PostgresTestSupport
import ServiceLifecycle
import ServiceLifecycleTestKit
import Synchronization
import Testing

/// Enqueue and the executor, in one process, against a real PostgreSQL.
@Suite(.timeLimit(.minutes(3)))
struct QueueTests {
    /// Records every run of a job: the side effect tests count.
    final class Ledger: Sendable {
        private let runs = Mutex<[UUID: Int]>([:])
        private let concurrent = Mutex<(now: Int, peak: Int)>((0, 0))
        func record(_ id: UUID) { self.runs.withLock { $0[id, default: 0] += 1 } }
        var counts: [UUID: Int] { self.runs.withLock { $0 } }
        func enter() { self.concurrent.withLock { $0.now += 1; $0.peak = max($0.peak, $0.now) } }
        func leave() { self.concurrent.withLock { $0.now -= 1 } }
        var peak: Int { self.concurrent.withLock { $0.peak } }
    }

    struct Work: JobHandler {
        struct Payload: Codable, Sendable { var sleepMilliseconds: Int = 0; var failTimes: Int = 0 }
        static let type = "work"
        static let retryPolicy = RetryPolicy(maxAttempts: 3, initialDelay: .milliseconds(50), maximumDelay: .milliseconds(200))
        let ledger: Ledger
        func run(_ payload: Payload, context: JobContext) async throws -> EmptyPayload {
            self.ledger.enter()
            defer { self.ledger.leave() }
            self.ledger.record(context.id)
            if payload.sleepMilliseconds > 0 { try await Task.sleep(for: .milliseconds(payload.sleepMilliseconds)) }
            if context.attempt <= payload.failTimes { throw Flaky(attempt: context.attempt) }
            return EmptyPayload()
        }
    }

    struct Flaky: Error { var attempt: Int }

    /// Records that it started, then waits until it is cancelled.
    struct Block: JobHandler {
        struct Payload: Codable, Sendable {}
        static let type = "block"
        static let retryPolicy = RetryPolicy.none
        let started: IDBox
        let sawCancellation: IDBox
        func run(_ payload: Payload, context: JobContext) async throws -> EmptyPayload {
            self.started.set(context.id)
            do {
                try await Task.sleep(for: .seconds(120))
            } catch {
                self.sawCancellation.set(context.id)
                throw error
            }
            return EmptyPayload()
        }
    }

    /// Records the order jobs ran in.
    struct Ordered: JobHandler {
        struct Payload: Codable, Sendable { var label: String }
        static let type = "ordered"
        let log: OrderLogBox
        func run(_ payload: Payload, context: JobContext) async throws -> EmptyPayload {
            self.log.append(payload.label)
            return EmptyPayload()
        }
    }

    struct Slow: JobHandler {
        struct Payload: Codable, Sendable {}
        static let type = "slow"
        static let retryPolicy = RetryPolicy.none
        static let timeout: Duration? = .milliseconds(200)
        func run(_ payload: Payload, context: JobContext) async throws -> EmptyPayload {
            try await Task.sleep(for: .seconds(60))
            return EmptyPayload()
        }
    }

    static func makeService() async throws -> JobService {
        let database = try await TestPostgres.makeDatabase(prefix: "queue")
        let pool = PostgresConnectionPool(connection: database, configuration: .init(maximumConnections: 10))
        let jobs = JobService(pool: pool, configuration: .init(
            workerID: "test-\(UUID().uuidString.prefix(8))", leaseDuration: .seconds(30), heartbeatInterval: .milliseconds(500),
            pollInterval: .milliseconds(200)))
        try await jobs.migrate()
        return jobs
    }

    /// Runs the executor until `condition` holds (or 60 s pass), then shuts it down gracefully.
    static func run(_ executor: JobExecutor, until condition: @escaping @Sendable () async throws -> Bool) async throws -> Bool {
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Bool.self) { group in
                group.addTask {
                    try await executor.run()
                    return false
                }
                group.addTask {
                    let deadline = ContinuousClock.now + .seconds(60)
                    while ContinuousClock.now < deadline {
                        if try await condition() { return true }
                        try await Task.sleep(for: .milliseconds(20))
                    }
                    return false
                }
                let met = try await group.next() ?? false
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
                return met
            }
        }
    }

    static func count(_ jobs: JobService, _ status: JobStatus) async throws -> Int {
        try await jobs.pool.query("SELECT count(*) FROM jobkit.jobs WHERE status = \(status.rawValue)::text::jobkit.job_status")
            .first?.decode(Int.self, at: 0) ?? -1
    }

    @Test func executorRunsEveryEnqueuedJobExactlyOnce() async throws {
        let jobs = try await Self.makeService()
        let ledger = Ledger()
        let ids = try await jobs.enqueueMany(Work.self, Array(repeating: Work.Payload(), count: 500))
        let executor = JobExecutor(service: jobs, handlers: [Work(ledger: ledger)], configuration: .init(concurrency: 10))
        let drained = try await Self.run(executor) { try await Self.count(jobs, .done) == 500 }
        #expect(drained)
        let counts = ledger.counts
        #expect(Set(counts.keys) == Set(ids))
        #expect(counts.values.allSatisfy { $0 == 1 })
    }

    @Test func neverMoreThanTheWorkerLimitRunAtOnce() async throws {
        let jobs = try await Self.makeService()
        let ledger = Ledger()
        try await jobs.enqueueMany(Work.self, Array(repeating: Work.Payload(sleepMilliseconds: 30), count: 40))
        let executor = JobExecutor(service: jobs, handlers: [Work(ledger: ledger)], configuration: .init(concurrency: 4))
        #expect(try await Self.run(executor) { try await Self.count(jobs, .done) == 40 })
        #expect(ledger.peak == 4)
        #expect(ledger.counts.count == 40)
    }

    @Test func failedAttemptsRetryWithBackoffThenSucceed() async throws {
        let jobs = try await Self.makeService()
        let ledger = Ledger()
        let id = try await jobs.enqueue(Work.self, Work.Payload(failTimes: 2))
        let executor = JobExecutor(service: jobs, handlers: [Work(ledger: ledger)])
        #expect(try await Self.run(executor) { try await jobs.job(id).status == .done })
        let job = try await jobs.job(id)
        #expect(job.attempt == 3)
        #expect(job.maxAttempts == 3)
        let history = try await jobs.history(of: id)
        #expect(history.map(\.kind) == ["retry_scheduled", "retry_scheduled"])
        #expect(history.allSatisfy { $0.message?.contains("Flaky") == true })
        // The second retry waited at least the first backoff step (50 ms, less 20 % jitter).
        #expect(history[1].at.timeIntervalSince(history[0].at) >= 0.04)
    }

    @Test func jobFailsForGoodAfterItsLastAttempt() async throws {
        let jobs = try await Self.makeService()
        let id = try await jobs.enqueue(Work.self, Work.Payload(failTimes: 10))
        let executor = JobExecutor(service: jobs, handlers: [Work(ledger: Ledger())])
        #expect(try await Self.run(executor) { try await jobs.job(id).status == .failed })
        let job = try await jobs.job(id)
        #expect(job.attempt == 3)
        #expect(job.errorMessage?.contains("Flaky(attempt: 3)") == true)
        #expect(try await jobs.history(of: id).map(\.kind) == ["retry_scheduled", "retry_scheduled", "failed"])
    }

    @Test func timeoutCancelsTheAttemptAndFailsTheJob() async throws {
        let jobs = try await Self.makeService()
        let id = try await jobs.enqueue(Slow.self, Slow.Payload())
        #expect(try await jobs.job(id).timeout == .milliseconds(200))
        let executor = JobExecutor(service: jobs, handlers: [Slow()])
        #expect(try await Self.run(executor) { try await jobs.job(id).status == .failed })
        #expect(try await jobs.job(id).errorMessage?.contains("timed out") == true)
    }

    @Test func runningJobIsCancelledFromAnotherProcess() async throws {
        let jobs = try await Self.makeService()
        let started = IDBox()
        let sawCancellation = IDBox()
        let id = try await jobs.enqueue(Block.self, Block.Payload())
        let executor = JobExecutor(service: jobs, handlers: [Block(started: started, sawCancellation: sawCancellation)])
        let requested = IDBox()
        let cancelled = try await Self.run(executor) {
            if started.value == id, requested.value == nil {
                requested.set(id)
                let output = try await CLI.run(["cancel", id.uuidString, "--database-url", jobs.pool.connectionConfiguration.connectionString])
                #expect(output.status == 0, "jobkit cancel failed: \(output.text)")
            }
            return try await jobs.job(id).status == .cancelled
        }
        #expect(cancelled)
        #expect(sawCancellation.value == id)
        #expect(try await jobs.history(of: id).map(\.kind) == ["cancel_requested", "cancelled"])
    }

    @Test func gracefulShutdownReleasesRunningJobs() async throws {
        let jobs = try await Self.makeService()
        let started = IDBox()
        let id = try await jobs.enqueue(Block.self, Block.Payload())
        let executor = JobExecutor(
            service: jobs, handlers: [Block(started: started, sawCancellation: IDBox())],
            configuration: .init(shutdownGracePeriod: .milliseconds(100)))
        #expect(try await Self.run(executor) { started.value == id })
        // run() has returned: the job was given back, its attempt not counted.
        let job = try await jobs.job(id)
        #expect(job.status == .scheduled)
        #expect(job.attempt == 0)
        #expect(job.lease == nil)
        #expect(try await jobs.history(of: id).map(\.kind) == ["released"])
    }

    @Test func transactionalEnqueueExistsOnlyIfTheTransactionCommits() async throws {
        let jobs = try await Self.makeService()
        struct Abort: Error {}
        await #expect(throws: Abort.self) {
            try await jobs.pool.withTransaction { connection in
                try await jobs.enqueue(Work.self, Work.Payload(), on: connection)
                throw Abort()
            }
        }
        #expect(try await jobs.list().jobs.isEmpty)
        let id = try await jobs.pool.withTransaction { connection in
            try await jobs.enqueue(Work.self, Work.Payload(), on: connection)
        }
        #expect(try await jobs.job(id).status == .scheduled)
    }

    @Test func delayedJobIsNotClaimedBeforeItsTime() async throws {
        let jobs = try await Self.makeService()
        let id = try await jobs.enqueue(Work.self, Work.Payload(), options: .init(runAt: Date().addingTimeInterval(1)))
        let executor = JobExecutor(service: jobs, handlers: [Work(ledger: Ledger())], configuration: .init(pollInterval: .milliseconds(100)))
        #expect(try await Self.run(executor) { try await jobs.job(id).status == .done })
        let job = try await jobs.job(id)
        #expect(try #require(job.startedAt) >= job.runAt)
    }

    @Test func higherPriorityRunsFirst() async throws {
        let jobs = try await Self.makeService()
        let log = OrderLogBox()
        for index in 0..<5 {
            try await jobs.enqueue(Ordered.self, .init(label: "low\(index)"), options: .init(priority: 5))
        }
        for index in 0..<5 {
            try await jobs.enqueue(Ordered.self, .init(label: "high\(index)"), options: .init(priority: 0))
        }
        let executor = JobExecutor(service: jobs, handlers: [Ordered(log: log)], configuration: .init(concurrency: 1))
        #expect(try await Self.run(executor) { try await Self.count(jobs, .done) == 10 })
        #expect(log.entries == (0..<5).map { "high\($0)" } + (0..<5).map { "low\($0)" })
    }

    @Test func jobOfAnUnknownTypeFailsWithAClearError() async throws {
        let jobs = try await Self.makeService()
        let mystery = try await jobs.create("mystery", options: .init(maxAttempts: 3))
        let ledger = Ledger()
        let fine = try await jobs.enqueue(Work.self, Work.Payload())
        let executor = JobExecutor(service: jobs, handlers: [Work(ledger: ledger)])
        let ended = try await Self.run(executor) {
            let mysteryStatus = try await jobs.job(mystery.id).status
            let fineStatus = try await jobs.job(fine).status
            return mysteryStatus == .failed && fineStatus == .done
        }
        #expect(ended)
        #expect(try await jobs.job(mystery.id).errorMessage == "no handler is registered for job type \"mystery\"")
    }

    @Test func malformedPayloadFailsThatJobOnly() async throws {
        let jobs = try await Self.makeService()
        let bad = try await jobs.create(Work.type, payload: ["sleepMilliseconds": "soon"], options: .init(maxAttempts: 1))
        let good = try await jobs.enqueue(Work.self, Work.Payload())
        let executor = JobExecutor(service: jobs, handlers: [Work(ledger: Ledger())])
        let ended = try await Self.run(executor) {
            let badStatus = try await jobs.job(bad.id).status
            let goodStatus = try await jobs.job(good).status
            return badStatus == .failed && goodStatus == .done
        }
        #expect(ended)
        #expect(try await jobs.job(bad.id).errorMessage?.contains("cannot decode") == true)
    }

    @Test func lostListenerConnectionDelaysButNeverLoses() async throws {
        let jobs = try await Self.makeService()
        let ledger = Ledger()
        let executor = JobExecutor(service: jobs, handlers: [Work(ledger: ledger)], configuration: .init(pollInterval: .milliseconds(300)))
        let enqueued = IDBox()
        let done = try await Self.run(executor) {
            if enqueued.value == nil {
                // Drop every listening connection, then enqueue: the notification goes nowhere.
                let killed = try await jobs.pool.query("""
                    SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                    WHERE datname = current_database() AND query LIKE 'LISTEN%'
                    """).first?.decode(Int.self, at: 0) ?? 0
                guard killed > 0 else { return false }
                enqueued.set(try await jobs.enqueue(Work.self, Work.Payload()))
            }
            guard let id = enqueued.value else { return false }
            return try await jobs.job(id).status == .done
        }
        #expect(done)
    }

    @Test func pollOnlyExecutorRunsJobsWithoutNotifications() async throws {
        let jobs = try await Self.makeService()
        let ledger = Ledger()
        let executor = JobExecutor(
            service: jobs, handlers: [Work(ledger: ledger)],
            configuration: .init(pollInterval: .milliseconds(100), usesNotifications: false))
        let ids = IDBox()
        #expect(try await Self.run(executor) {
            if ids.value == nil { ids.set(try await jobs.enqueue(Work.self, Work.Payload())) }
            return try await jobs.job(try #require(ids.value)).status == .done
        })
    }

    @Test func batchReturnsEveryItemsOutcomeInOrder() async throws {
        let jobs = try await Self.makeService()
        let ledger = Ledger()
        let results = try await jobs.runBatch("square", Array(1...20), concurrency: 3) { item, job in
            ledger.enter()
            defer { ledger.leave() }
            try await Task.sleep(for: .milliseconds(10))
            if item == 7 { throw Flaky(attempt: item) }
            return item * item
        }
        #expect(results.count == 20)
        #expect(ledger.peak <= 3)
        for (index, result) in results.enumerated() {
            if index + 1 == 7 {
                #expect(throws: Flaky.self) { try result.get() }
            } else {
                #expect(try result.get() == (index + 1) * (index + 1))
            }
        }
        let page = try await jobs.list(JobFilter(types: ["square"]), limit: 100)
        #expect(page.jobs.filter { $0.status == .done }.count == 19)
        #expect(page.jobs.filter { $0.status == .failed }.count == 1)
    }

    @Test func batchCanStopAtTheFirstFailure() async throws {
        let jobs = try await Self.makeService()
        let results = try await jobs.runBatch("stop", Array(1...50), concurrency: 2, stopOnFailure: true) { item, job in
            if item == 3 { throw Flaky(attempt: item) }
            try await Task.sleep(for: .milliseconds(20))
            return item
        }
        #expect(results.count == 50)
        #expect(throws: Flaky.self) { try results[2].get() }
        #expect(throws: CancellationError.self) { try results[49].get() }
        #expect(try await jobs.list(JobFilter(types: ["stop"]), limit: 100).jobs.count < 50)
    }

    @Test func enqueueRejectsBadInputBeforeWriting() async throws {
        let jobs = try await Self.makeService()
        await #expect(throws: JobError.invalidArgument("")) {
            try await jobs.enqueue(Work.self, Work.Payload(), options: .init(queue: ""))
        }
        await #expect(throws: JobError.invalidArgument("")) {
            try await jobs.enqueue(Work.self, Work.Payload(), options: .init(maxAttempts: 0))
        }
        #expect(try await jobs.list().jobs.isEmpty)
    }
}

/// Labels appended by jobs, in the order they ran.
final class OrderLogBox: Sendable {
    private let storage = Mutex<[String]>([])
    var entries: [String] { self.storage.withLock { $0 } }
    func append(_ label: String) { self.storage.withLock { $0.append(label) } }
}
