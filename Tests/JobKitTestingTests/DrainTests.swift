import Foundation
import JobKit
import JobKitTesting
import Testing

/// `drain`: every due job of a queue runs inline through the executor's path, and the call
/// returns when none is left.
@Suite(.timeLimit(.minutes(3)))
struct DrainTests {
    /// Enqueues the next link of a chain until `remaining` is 0.
    struct Chain: JobHandler {
        struct Payload: Codable, Sendable { var remaining: Int }
        static let type = "chain"
        let jobs: JobService
        func run(_ payload: Payload, context: JobContext) async throws -> EmptyPayload {
            if payload.remaining > 0 { try await self.jobs.enqueue(Chain.self, .init(remaining: payload.remaining - 1)) }
            return EmptyPayload()
        }
    }

    /// Enqueues itself again, forever.
    struct Forever: JobHandler {
        struct Payload: Codable, Sendable {}
        static let type = "forever"
        let jobs: JobService
        func run(_ payload: Payload, context: JobContext) async throws -> EmptyPayload {
            try await self.jobs.enqueue(Forever.self, .init())
            return EmptyPayload()
        }
    }

    /// Waits until `count` jobs run at once (or fails after 30 s), recording the peak.
    struct Gather: JobHandler {
        struct Payload: Codable, Sendable {}
        static let type = "gather"
        static let retryPolicy = RetryPolicy.none
        let running: Box<(now: Int, peak: Int)>
        let count: Int
        func run(_ payload: Payload, context: JobContext) async throws -> EmptyPayload {
            self.running.update { $0.now += 1; $0.peak = max($0.peak, $0.now) }
            try await pollUntil("\(self.count) jobs running at once") { self.running.value.peak >= self.count }
            self.running.update { $0.now -= 1 }
            return EmptyPayload()
        }
    }

    /// Sleeps long enough for a few heartbeats, which register the drain as a worker.
    struct Nap: JobHandler {
        struct Payload: Codable, Sendable {}
        static let type = "nap"
        func run(_ payload: Payload, context: JobContext) async throws -> EmptyPayload {
            try await Task.sleep(for: .milliseconds(400))
            return EmptyPayload()
        }
    }

    @Test func drainRunsEveryDueJobOfTheQueueAndLeavesTheRest() async throws {
        try await withTestingService("drain") { jobs in
            let sent = Box<[String]>([])
            let due = try await jobs.enqueueMany(SendEmail.self, (1...5).map { .init(to: "user\($0)@example.com", subject: "Hi") })
            let elsewhere = try await jobs.enqueue(SendEmail.self, .init(to: "other@example.com", subject: "Hi"), options: .init(queue: "other"))
            let later = try await jobs.enqueue(
                SendEmail.self, .init(to: "later@example.com", subject: "Hi"), options: .init(runAt: Date().addingTimeInterval(3600)))

            let report = try await jobs.drain(handlers: [SendEmail(sent: sent)])

            // One statement enqueued them: they share a run-at, so their order is the database's choice.
            #expect(Set(report.jobs.map(\.id)) == Set(due))
            #expect(report.succeeded.count == 5 && report.attempts == 5 && !report.reachedLimit)
            #expect(sent.value.sorted() == (1...5).map { "user\($0)@example.com" })
            #expect(try await jobs.job(elsewhere).status == .scheduled)
            #expect(try await jobs.job(later).status == .scheduled)
            let first = try #require(report.jobs.first { $0.id == due[0] })
            #expect(try first.result(as: SendEmail.Output.self) == .init(accepted: "user1@example.com"))
        }
    }

    @Test func drainAlsoRunsTheJobsThatItsJobsEnqueue() async throws {
        try await withTestingService("drain") { jobs in
            try await jobs.enqueue(Chain.self, .init(remaining: 4))
            let report = try await jobs.drain(handlers: [Chain(jobs: jobs)])
            #expect(report.succeeded.count == 5)
            #expect(try await jobs.enqueuedJobs(of: Chain.self).isEmpty)
        }
    }

    @Test func drainLeavesARetryWhoseBackoffHasNotPassed() async throws {
        try await withTestingService("drain") { jobs in
            let id = try await jobs.enqueue(Flaky.self, .init(failures: 1))
            let report = try await jobs.drain(handlers: [Flaky()])
            #expect(report.retrying.map(\.id) == [id])
            let job = try #require(report.jobs.first)
            #expect(job.status == .scheduled && job.attempt == 1)
            #expect(job.errorMessage?.contains("boom on attempt 1") == true)
            #expect(job.runAt > Date().addingTimeInterval(3000))
            #expect(try await jobs.history(of: id).map(\.kind) == ["retry_scheduled"])
        }
    }

    @Test func drainWithFutureJobsRetriesAtOnceUntilTheAttemptsRunOut() async throws {
        try await withTestingService("drain") { jobs in
            let recovering = try await jobs.enqueue(Flaky.self, .init(failures: 2))
            let hopeless = try await jobs.enqueue(Flaky.self, .init(failures: 10))
            let delayed = try await jobs.enqueue(Flaky.self, .init(failures: 0), options: .init(runAt: Date().addingTimeInterval(86_400)))

            let report = try await jobs.drain(handlers: [Flaky()], options: .init(includesFutureJobs: true))

            #expect(report.attempts == 3 + 3 + 1)
            #expect(Set(report.succeeded.map(\.id)) == [recovering, delayed])
            #expect(report.failed.map(\.id) == [hopeless])
            #expect(try await jobs.job(recovering).result(as: Int.self) == 3)
            #expect(try await jobs.history(of: hopeless).map(\.kind) == ["retry_scheduled", "retry_scheduled", "failed"])
            #expect(try await jobs.job(hopeless).errorMessage?.contains("boom on attempt 3") == true)
        }
    }

    @Test func drainFailsJobsOfAnUnknownTypeAndWithMalformedPayloads() async throws {
        try await withTestingService("drain") { jobs in
            let unknown = try await jobs.create("mystery", options: .init(maxAttempts: 1))
            let malformed = try await jobs.create(SendEmail.type, payload: ["to": 42], options: .init(maxAttempts: 1))
            let fine = try await jobs.enqueue(SendEmail.self, .init(to: "a@example.com", subject: "Hi"))

            let report = try await jobs.drain(handlers: [SendEmail(sent: Box([]))])

            #expect(report.succeeded.map(\.id) == [fine])
            #expect(Set(report.failed.map(\.id)) == [unknown.id, malformed.id])
            #expect(try await jobs.job(unknown.id).errorMessage == "no handler is registered for job type \"mystery\"")
            #expect(try await jobs.job(malformed.id).errorMessage?.contains("cannot decode") == true)
        }
    }

    @Test func drainStopsAtItsLimit() async throws {
        try await withTestingService("drain") { jobs in
            try await jobs.enqueue(Forever.self, .init())
            let report = try await jobs.drain(handlers: [Forever(jobs: jobs)], options: .init(limit: 5))
            #expect(report.reachedLimit)
            #expect(report.attempts == 5 && report.succeeded.count == 5)
            #expect(try await jobs.enqueuedJobs(of: Forever.self).count == 1)
        }
    }

    @Test func drainRunsUpToItsConcurrencyAtOnce() async throws {
        try await withTestingService("drain") { jobs in
            let running = Box<(now: Int, peak: Int)>((0, 0))
            try await jobs.enqueueMany(Gather.self, Array(repeating: .init(), count: 6))
            let report = try await jobs.drain(handlers: [Gather(running: running, count: 3)], options: .init(concurrency: 3))
            #expect(report.succeeded.count == 6)
            #expect(running.value.peak == 3)
        }
    }

    @Test func drainLeavesNoWorkerOrLeaseBehind() async throws {
        try await withTestingService("drain", heartbeatInterval: .milliseconds(100)) { jobs in
            let id = try await jobs.enqueue(Nap.self, .init())
            let report = try await jobs.drain(handlers: [Nap()])
            #expect(report.succeeded.map(\.id) == [id])
            #expect(try await jobs.job(id).lease == nil)
            #expect(await jobs.health().workers.isEmpty)
        }
    }
}
