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

    static func makeService() async throws -> JobService {
        let database = try await TestPostgres.makeDatabase(prefix: "queue")
        let pool = PostgresConnectionPool(connection: database, configuration: .init(maximumConnections: 10))
        let jobs = JobService(pool: pool, configuration: .init(
            workerID: "test-\(UUID().uuidString.prefix(8))", leaseDuration: .seconds(3), heartbeatInterval: .milliseconds(500),
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
}
