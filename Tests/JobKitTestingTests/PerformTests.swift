import Foundation
import JobKit
import JobKitTesting
import LibPQ
import Testing

/// `perform`: one handler on one payload, run as the executor runs it, with a real job row and
/// a real `JobContext`.
@Suite(.timeLimit(.minutes(3)))
struct PerformTests {
    /// Reports progress, then returns the progress it reads back from the database.
    struct Measure: JobHandler {
        struct Payload: Codable, Sendable { var percent: Int }
        struct Output: Codable, Sendable, Equatable { var storedProgress: Int; var step: String?; var attempt: Int }
        static let type = "measure"
        let jobs: JobService
        func run(_ payload: Payload, context: JobContext) async throws -> Output {
            try await context.progress(payload.percent, step: "measuring")
            let stored = try await self.jobs.job(context.id)
            return Output(storedProgress: stored.progress, step: stored.currentStep, attempt: context.attempt)
        }
    }

    /// Records that it started, then waits to be cancelled.
    struct Block: JobHandler {
        struct Payload: Codable, Sendable {}
        static let type = "block"
        static let retryPolicy = RetryPolicy.none
        let started: Box<UUID?>
        func run(_ payload: Payload, context: JobContext) async throws -> EmptyPayload {
            self.started.set(context.id)
            try await Task.sleep(for: .seconds(120))
            return EmptyPayload()
        }
    }

    /// Sleeps past its timeout.
    struct Slow: JobHandler {
        struct Payload: Codable, Sendable {}
        static let type = "slow"
        static let retryPolicy = RetryPolicy.none
        static let timeout: Duration? = .milliseconds(100)
        func run(_ payload: Payload, context: JobContext) async throws -> EmptyPayload {
            try await Task.sleep(for: .seconds(120))
            return EmptyPayload()
        }
    }

    @Test func performRunsTheHandlerWithARealContextAndStoresItsResult() async throws {
        try await withTestingService("perform") { jobs in
            let result = try await jobs.perform(Measure(jobs: jobs), .init(percent: 40))
            #expect(try result.get() == .init(storedProgress: 40, step: "measuring", attempt: 1))
            #expect(result.job.status == .done && result.job.progress == 100)
            #expect(result.job.lease == nil)
            let stored = try await jobs.job(result.job.id)
            #expect(try stored.result(as: Measure.Output.self) == .init(storedProgress: 40, step: "measuring", attempt: 1))
        }
    }

    @Test func throwingHandlerIsRetriedPerItsPolicyThenFails() async throws {
        try await withTestingService("perform") { jobs in
            let first = try await jobs.perform(Flaky(), .init(failures: 5), options: .init(maxAttempts: 2))
            guard case .retrying(let error, let runAt) = first.outcome else {
                Issue.record("expected a retry, got \(first.outcome)")
                return
            }
            #expect(error.contains("boom on attempt 1"))
            #expect(runAt > Date().addingTimeInterval(3000))
            #expect(first.job.status == .scheduled && first.job.attempt == 1)

            let second = try await jobs.perform(Flaky(), jobID: first.job.id)
            guard case .failed(let finalError) = second.outcome else {
                Issue.record("expected a failure, got \(second.outcome)")
                return
            }
            #expect(finalError.contains("boom on attempt 2"))
            let thrown = #expect(throws: JobTestingError.self) { try second.get() }
            #expect(thrown?.code == .notDone)
            #expect(thrown?.description.contains("ended failed, not done, after attempt 2 of 2") == true)
            #expect(thrown?.description.contains("boom on attempt 2") == true)
            #expect(thrown?.jobs.map(\.id) == [first.job.id])
            #expect(try await jobs.history(of: first.job.id).map(\.kind) == ["retry_scheduled", "failed"])
        }
    }

    @Test func malformedPayloadFailsTheJobAsInAnExecutor() async throws {
        try await withTestingService("perform") { jobs in
            let result = try await jobs.perform(SendEmail(sent: Box([])), payloadJSON: #"{"to": 42}"#, options: .init(maxAttempts: 1))
            guard case .failed(let error) = result.outcome else {
                Issue.record("expected a failure, got \(result.outcome)")
                return
            }
            #expect(error.contains("cannot decode"))
            #expect(result.job.attempt == 1)
            #expect(result.job.payloadJSON.contains("42"))
        }
    }

    @Test func payloadThatIsNotJSONIsRejectedBeforeAnyRowIsWritten() async throws {
        try await withTestingService("perform") { jobs in
            await #expect(throws: JobError.invalidArgument("")) {
                try await jobs.perform(SendEmail(sent: Box([])), payloadJSON: "{to:")
            }
            let written = try await jobs.list().jobs
            #expect(written.isEmpty)
        }
    }

    @Test func handlersTimeoutStopsTheRunAndFailsTheJob() async throws {
        try await withTestingService("perform") { jobs in
            let result = try await jobs.perform(Slow(), .init())
            guard case .failed(let error) = result.outcome else {
                Issue.record("expected a failure, got \(result.outcome)")
                return
            }
            #expect(error.contains("timed out"))
        }
    }

    @Test func cancellingThePerformedJobInThisProcessStopsItAtOnce() async throws {
        try await withTestingService("perform", heartbeatInterval: .seconds(20)) { jobs in
            let started = Box<UUID?>(nil)
            async let result = jobs.perform(Block(started: started), .init())
            try await pollUntil("the job to start") { started.value != nil }
            try await jobs.cancel(try #require(started.value), reason: "test")
            let outcome = try await result.outcome
            guard case .cancelled = outcome else {
                Issue.record("expected a cancellation, got \(outcome)")
                return
            }
        }
    }

    @Test func cancellingThePerformedJobFromAnotherProcessStopsItAtTheNextHeartbeat() async throws {
        try await withTestingService("perform", heartbeatInterval: .milliseconds(100)) { jobs in
            let other = JobService(pool: PostgresConnectionPool(connection: jobs.pool.connectionConfiguration), configuration: .init(workerID: "other"))
            let started = Box<UUID?>(nil)
            async let result = jobs.perform(Block(started: started), .init())
            try await pollUntil("the job to start") { started.value != nil }
            let id = try #require(started.value)
            try await other.cancel(id, reason: "from elsewhere")
            await other.pool.close()
            let outcome = try await result.outcome
            guard case .cancelled = outcome else {
                Issue.record("expected a cancellation, got \(outcome)")
                return
            }
            #expect(try await jobs.history(of: id).map(\.kind) == ["cancel_requested", "cancelled"])
        }
    }

    @Test func performRefusesAJobOfAnotherType() async throws {
        try await withTestingService("perform") { jobs in
            let thumbnail = try await jobs.enqueue(Thumbnail.self, .init(image: "cat.png"))
            await #expect(throws: JobError.invalidArgument("")) {
                try await jobs.perform(SendEmail(sent: Box([])), jobID: thumbnail)
            }
            #expect(try await jobs.job(thumbnail).status == .scheduled)
        }
    }
}
