import Foundation
import InMemoryTracing
import JobKit
import LibPQ
import Logging
import MetricsTestKit
import PostgresTestSupport
import Synchronization
import Testing
import Tracing

/// Metrics, spans and log metadata, each test with its own `TestMetrics`, `InMemoryTracer` and
/// in-memory log handler (nothing bootstrapped), against a real PostgreSQL.
@Suite(.timeLimit(.minutes(3)))
struct ObservabilityTests {
    // MARK: Handlers

    /// Succeeds; logs one entry through its context's logger.
    struct Succeed: JobHandler {
        struct Payload: Codable, Sendable {}
        static let type = "succeed"
        func run(_ payload: Payload, context: JobContext) async throws -> EmptyPayload {
            context.logger.debug("Handler ran")
            return EmptyPayload()
        }
    }

    /// Fails its only attempt.
    struct Fail: JobHandler {
        struct Payload: Codable, Sendable {}
        static let type = "fail"
        static let retryPolicy = RetryPolicy.none
        func run(_ payload: Payload, context: JobContext) async throws -> EmptyPayload {
            throw Broken()
        }
    }

    /// Fails its first attempt, succeeds its second.
    struct Flaky: JobHandler {
        struct Payload: Codable, Sendable {}
        static let type = "flaky"
        static let retryPolicy = RetryPolicy(maxAttempts: 2, initialDelay: .milliseconds(10), maximumDelay: .milliseconds(10), jitter: 0)
        func run(_ payload: Payload, context: JobContext) async throws -> EmptyPayload {
            if context.attempt == 1 { throw Broken() }
            return EmptyPayload()
        }
    }

    /// Waits until it is cancelled.
    struct Block: JobHandler {
        struct Payload: Codable, Sendable {}
        static let type = "block"
        static let retryPolicy = RetryPolicy.none
        func run(_ payload: Payload, context: JobContext) async throws -> EmptyPayload {
            try await Task.sleep(for: .seconds(120))
            return EmptyPayload()
        }
    }

    /// Starts a span of its own inside the run, so the test can see whose child it is.
    struct Traced: JobHandler {
        struct Payload: Codable, Sendable {}
        static let type = "traced"
        let tracer: InMemoryTracer
        func run(_ payload: Payload, context: JobContext) async throws -> EmptyPayload {
            self.tracer.withSpan("inside the handler") { _ in }
            return EmptyPayload()
        }
    }

    struct Broken: Error {}

    // MARK: Set-up

    /// A service on the fixture's database with its own pool, metrics, tracer and logger: a process.
    static func service(
        _ fixture: JobKitFixture,
        workerID: String,
        metrics: TestMetrics = TestMetrics(),
        tracer: InMemoryTracer = InMemoryTracer(),
        logger: Logger = JobKitLogging.noop
    ) -> JobService {
        JobService(
            pool: fixture.makePool(),
            configuration: .init(
                schema: fixture.schema, workerID: workerID, heartbeatInterval: .milliseconds(300), pollInterval: .milliseconds(100),
                metricsFactory: metrics, tracer: tracer),
            logger: logger)
    }

    static func executor(_ service: JobService, _ handlers: [any JobHandler], logger: Logger = JobKitLogging.noop) -> JobExecutor {
        JobExecutor(service: service, handlers: handlers, configuration: .init(pollInterval: .milliseconds(100)), logger: logger)
    }

    /// A tracer whose ids start with `prefix`, so two "processes" never make the same id.
    static func tracer(_ prefix: String) -> InMemoryTracer {
        let sequence = Sequence()
        return InMemoryTracer(idGenerator: .init(
            nextTraceID: { "\(prefix)-trace-\(sequence.next())" },
            nextSpanID: { "\(prefix)-span-\(sequence.next())" }))
    }

    /// 1, 2, 3, … from any thread.
    final class Sequence: Sendable {
        private let last = Mutex(0)
        func next() -> Int { self.last.withLock { $0 += 1; return $0 } }
    }

    static func dimensions(queue: String = "default", type: String) -> [(String, String)] {
        [("queue", queue), ("type", type)]
    }

    /// The total of a `jobkit.jobs.*` counter for one type, 0 when it was never made.
    static func total(_ metrics: TestMetrics, _ label: String, type: String) -> Int64 {
        metrics.counterTotal(label: label, dimensions: Self.dimensions(type: type))
    }

    /// How many durations the run-duration timer holds for one type and status.
    static func durations(_ metrics: TestMetrics, type: String, status: String) throws -> [Int64] {
        try metrics.expectTimer("jobkit.jobs.duration", Self.dimensions(type: type) + [("status", status)]).values
    }

    // MARK: - Metrics

    @Test func executorCountsEachOutcomeWithQueueAndTypeDimensions() async throws {
        try await withJobKitFixture("observability") { fixture in
            let metrics = TestMetrics()
            let jobs = Self.service(fixture, workerID: "metrics", metrics: metrics)
            try await jobs.enqueue(Succeed.self, .init())
            try await jobs.enqueue(Fail.self, .init())
            try await jobs.enqueue(Flaky.self, .init())
            let block = try await jobs.enqueue(Block.self, .init())
            try await jobs.enqueue(Succeed.self, .init(), options: .init(runAt: Date().addingTimeInterval(3600)))

            let executor = Self.executor(jobs, [Succeed(), Fail(), Flaky(), Block()])
            let finished = try await QueueTests.run(executor) {
                if try await jobs.job(block).status == .inProgress, try await jobs.job(block).cancelRequestedAt == nil {
                    try await jobs.cancel(block, reason: "test")
                }
                return try await fixture.count("jobs", where: "status IN ('done', 'failed', 'cancelled')") == 4
            }
            #expect(finished)

            #expect(Self.total(metrics, "jobkit.jobs.enqueued", type: "succeed") == 2)
            for type in ["fail", "flaky", "block"] {
                #expect(Self.total(metrics, "jobkit.jobs.enqueued", type: type) == 1)
            }
            #expect(Self.total(metrics, "jobkit.jobs.started", type: "succeed") == 1)
            #expect(Self.total(metrics, "jobkit.jobs.started", type: "flaky") == 2)
            #expect(Self.total(metrics, "jobkit.jobs.completed", type: "succeed") == 1)
            #expect(Self.total(metrics, "jobkit.jobs.completed", type: "flaky") == 1)
            #expect(Self.total(metrics, "jobkit.jobs.retried", type: "flaky") == 1)
            #expect(Self.total(metrics, "jobkit.jobs.failed", type: "flaky") == 0)
            #expect(Self.total(metrics, "jobkit.jobs.failed", type: "fail") == 1)
            #expect(Self.total(metrics, "jobkit.jobs.cancelled", type: "block") == 1)
            #expect(Self.total(metrics, "jobkit.jobs.completed", type: "block") == 0)

            // Run durations per outcome (status), wait times per start.
            #expect(try Self.durations(metrics, type: "succeed", status: "completed").count == 1)
            #expect(try Self.durations(metrics, type: "fail", status: "failed").count == 1)
            #expect(try Self.durations(metrics, type: "flaky", status: "retried").count == 1)
            #expect(try Self.durations(metrics, type: "flaky", status: "completed").count == 1)
            #expect(try Self.durations(metrics, type: "block", status: "cancelled").count == 1)
            let waits = try metrics.expectTimer("jobkit.jobs.queued.duration", Self.dimensions(type: "flaky")).values
            #expect(waits.count == 2)
            #expect(waits.allSatisfy { $0 >= 0 })

            // Never a job id: only the documented dimensions.
            let keys = Set((metrics.counters.flatMap(\.dimensions) + metrics.timers.flatMap(\.dimensions) + metrics.meters.flatMap(\.dimensions)).map(\.0))
            #expect(keys.isSubset(of: ["queue", "type", "status", "state"]))
            #expect(metrics.counters.allSatisfy { $0.label.hasPrefix("jobkit.") })
        }
    }

    @Test func queueDepthIsMeasuredAtTheWorkerHeartbeat() async throws {
        try await withJobKitFixture("observability") { fixture in
            let metrics = TestMetrics()
            let jobs = Self.service(fixture, workerID: "depth", metrics: metrics)
            try await jobs.enqueueMany(Succeed.self, Array(repeating: .init(), count: 3))
            try await jobs.enqueue(Succeed.self, .init(), options: .init(runAt: Date().addingTimeInterval(3600)))

            let executor = Self.executor(jobs, [Succeed()])
            // The first heartbeat runs before the first claim: it sees all three waiting. A later
            // one (every 300 ms here) sees the queue drained, the delayed job still waiting.
            let drained = try await QueueTests.run(executor) {
                let available = (try? metrics.expectMeter("jobkit.queue.depth", [("queue", "default"), ("state", "available")]))?.values ?? []
                return available.first == 3 && available.last == 0
            }
            #expect(drained)
            let later = try metrics.expectMeter("jobkit.queue.depth", [("queue", "default"), ("state", "scheduled")])
            #expect(later.values.allSatisfy { $0 == 1 })
        }
    }

    @Test func lifecycleCallsAndRunAsJobCountTheirJobs() async throws {
        try await withJobKitFixture("observability") { fixture in
            let metrics = TestMetrics()
            let jobs = Self.service(fixture, workerID: "manual", metrics: metrics)

            // runAsJob: one done, one failed.
            _ = try await jobs.runAsJob("inline") { _ in 42 }
            await #expect(throws: Broken.self) {
                try await jobs.runAsJob("inline") { _ -> Int in throw Broken() }
            }
            #expect(Self.total(metrics, "jobkit.jobs.started", type: "inline") == 2)
            #expect(Self.total(metrics, "jobkit.jobs.completed", type: "inline") == 1)
            #expect(Self.total(metrics, "jobkit.jobs.failed", type: "inline") == 1)
            #expect(Self.total(metrics, "jobkit.jobs.enqueued", type: "inline") == 0)

            // By hand: create, start, fail with a retry, start again, complete; create and cancel.
            let created = try await jobs.create("manual", options: .init(maxAttempts: 2))
            let first = try await jobs.start(created.id)
            try await jobs.fail(created.id, message: "try again", retryAfter: .zero, lease: first.lease?.token)
            let second = try await jobs.start(created.id)
            try await jobs.complete(created.id, lease: second.lease?.token)
            let dropped = try await jobs.create("manual")
            try await jobs.cancel(dropped.id)

            #expect(Self.total(metrics, "jobkit.jobs.enqueued", type: "manual") == 2)
            #expect(Self.total(metrics, "jobkit.jobs.started", type: "manual") == 2)
            #expect(Self.total(metrics, "jobkit.jobs.retried", type: "manual") == 1)
            #expect(Self.total(metrics, "jobkit.jobs.completed", type: "manual") == 1)
            #expect(Self.total(metrics, "jobkit.jobs.cancelled", type: "manual") == 1)
            #expect(try Self.durations(metrics, type: "manual", status: "completed").count == 1)
            #expect(try Self.durations(metrics, type: "manual", status: "retried").count == 1)
            // A job cancelled before it ran has no run time.
            #expect(try Self.durations(metrics, type: "manual", status: "cancelled").isEmpty)
        }
    }

    // MARK: - Tracing

    @Test func traceContextTravelsInTheRowToAnotherProcess() async throws {
        try await withJobKitFixture("observability") { fixture in
            // Process A enqueues inside a request's span; process B, with its own tracer, runs.
            let tracerA = Self.tracer("a")
            let tracerB = Self.tracer("b")
            let producer = Self.service(fixture, workerID: "process-a", tracer: tracerA)
            let consumer = Self.service(fixture, workerID: "process-b", tracer: tracerB)

            let id = try await tracerA.withSpan("POST /documents", ofKind: .server) { _ in
                try await producer.enqueue(Traced.self, .init())
            }
            let request = try #require(tracerA.finishedSpans.first { $0.operationName == "POST /documents" })
            let send = try #require(tracerA.finishedSpans.first { $0.operationName == "traced send" })
            #expect(send.kind == .producer)
            #expect(send.traceID == request.traceID)
            #expect(send.parentSpanID == request.spanID)
            #expect(send.attributes["jobkit.job.id"]?.toSpanAttribute() == .string(id.uuidString.lowercased()))
            #expect(send.attributes["jobkit.job.type"]?.toSpanAttribute() == .string("traced"))
            #expect(send.attributes["jobkit.job.queue"]?.toSpanAttribute() == .string("default"))
            #expect(try await producer.job(id).traceContextJSON != nil)

            let executor = Self.executor(consumer, [Traced(tracer: tracerB)])
            let done = try await QueueTests.run(executor) { try await consumer.job(id).status == .done }
            #expect(done)

            let process = try #require(tracerB.finishedSpans.first { $0.operationName == "traced process" })
            #expect(process.kind == .consumer)
            #expect(process.traceID == send.traceID)
            #expect(process.parentSpanID == send.spanID)
            #expect(process.attributes["jobkit.job.id"]?.toSpanAttribute() == .string(id.uuidString.lowercased()))
            #expect(process.attributes["jobkit.job.attempt"]?.toSpanAttribute() == .int64(1))
            #expect(process.attributes["jobkit.job.queue"]?.toSpanAttribute() == .string("default"))
            #expect(process.attributes["jobkit.job.outcome"]?.toSpanAttribute() == .string("completed"))
            #expect(process.status == nil)
            // The handler's own spans are children of the run.
            let inside = try #require(tracerB.finishedSpans.first { $0.operationName == "inside the handler" })
            #expect(inside.traceID == send.traceID)
            #expect(inside.parentSpanID == process.spanID)
        }
    }

    @Test func bulkEnqueueThroughCopyCarriesTheContextToEveryRow() async throws {
        try await withJobKitFixture("observability") { fixture in
            let tracerA = Self.tracer("a")
            let tracerB = Self.tracer("b")
            let producer = Self.service(fixture, workerID: "process-a", tracer: tracerA)
            let consumer = Self.service(fixture, workerID: "process-b", tracer: tracerB)

            // 100 jobs: above the COPY threshold (64).
            let ids = try await producer.enqueueMany(Succeed.self, Array(repeating: .init(), count: 100))
            let send = try #require(tracerA.finishedSpans.onlyElement)
            #expect(send.operationName == "succeed send")
            #expect(send.attributes["jobkit.job.count"]?.toSpanAttribute() == .int64(100))
            #expect(try await fixture.count("jobs", where: "trace_context IS NOT NULL") == 100)

            let executor = Self.executor(consumer, [Succeed()])
            let done = try await QueueTests.run(executor) { try await fixture.count("jobs", where: "status = 'done'") == 100 }
            #expect(done)
            let runs = tracerB.finishedSpans.filter { $0.operationName == "succeed process" }
            #expect(runs.count == 100)
            #expect(runs.allSatisfy { $0.traceID == send.traceID && $0.parentSpanID == send.spanID })
            let ranIDs = Set(runs.compactMap { span -> String? in
                guard case .string(let id)? = span.attributes["jobkit.job.id"]?.toSpanAttribute() else { return nil }
                return id
            })
            #expect(ranIDs == Set(ids.map { $0.uuidString.lowercased() }))
        }
    }

    @Test func failedRunSpanRecordsTheErrorAndAnErrorStatus() async throws {
        try await withJobKitFixture("observability") { fixture in
            let tracer = Self.tracer("a")
            let jobs = Self.service(fixture, workerID: "errors", tracer: tracer)
            let id = try await jobs.enqueue(Fail.self, .init())
            let executor = Self.executor(jobs, [Fail()])
            let failed = try await QueueTests.run(executor) { try await jobs.job(id).status == .failed }
            #expect(failed)

            let process = try #require(tracer.finishedSpans.first { $0.operationName == "fail process" })
            #expect(process.status?.code == .error)
            #expect(process.errors.count == 1)
            #expect(process.errors.first?.error is Broken)
            #expect(process.attributes["jobkit.job.outcome"]?.toSpanAttribute() == .string("failed"))
        }
    }

    @Test func runAsJobRunsItsBodyInASpanOfItsOwn() async throws {
        try await withJobKitFixture("observability") { fixture in
            let tracer = Self.tracer("a")
            let jobs = Self.service(fixture, workerID: "inline", tracer: tracer)

            let value = try await tracer.withSpan("caller") { _ in
                try await jobs.runAsJob("ocr") { _ in
                    tracer.withSpan("recognize") { _ in 7 }
                }
            }
            #expect(value == 7)
            let caller = try #require(tracer.finishedSpans.first { $0.operationName == "caller" })
            let run = try #require(tracer.finishedSpans.first { $0.operationName == "ocr run" })
            let inside = try #require(tracer.finishedSpans.first { $0.operationName == "recognize" })
            #expect(run.kind == .internal)
            #expect(run.parentSpanID == caller.spanID)
            #expect(inside.parentSpanID == run.spanID)
            #expect(run.attributes["jobkit.job.attempt"]?.toSpanAttribute() == .int64(1))
            #expect(run.attributes["jobkit.job.outcome"]?.toSpanAttribute() == .string("completed"))

            await #expect(throws: Broken.self) {
                try await jobs.runAsJob("ocr") { _ -> Int in throw Broken() }
            }
            let failed = try #require(tracer.finishedSpans.last { $0.operationName == "ocr run" })
            #expect(failed.status?.code == .error)
            #expect(failed.errors.first?.error is Broken)
        }
    }

    @Test func withoutATracerNoContextIsStored() async throws {
        try await withJobKitFixture("observability") { fixture in
            let jobs = JobService(pool: fixture.pool, configuration: .init(schema: fixture.schema, workerID: "plain", tracer: NoOpTracer()))
            let id = try await jobs.enqueue(Succeed.self, .init())
            #expect(try await jobs.job(id).traceContextJSON == nil)
        }
    }

    // MARK: - Logs

    @Test func jobLoggersCarryIDTypeAttemptAndQueue() async throws {
        try await withJobKitFixture("observability") { fixture in
            let (logger, entries) = InMemoryLogHandler.make()
            let jobs = Self.service(fixture, workerID: "logs", logger: logger)
            let id = try await jobs.enqueue(Succeed.self, .init(), options: .init(queue: "mail"))
            let executor = JobExecutor(
                service: jobs, handlers: [Succeed()], configuration: .init(queues: ["mail"], pollInterval: .milliseconds(100)), logger: logger)
            let done = try await QueueTests.run(executor) { try await jobs.job(id).status == .done }
            #expect(done)

            let expected = ["jobkit.job.id": "\(id)", "jobkit.job.type": "succeed", "jobkit.job.attempt": "1", "jobkit.job.queue": "mail"]
            for message in ["Job started", "Handler ran", "Job ended"] {
                let entry = try #require(entries.with(message: message).onlyElement, "one \(message) entry")
                for (key, value) in expected {
                    #expect(entry.metadata[key] == value, "\(message): \(key)")
                }
            }

            _ = try await jobs.runAsJob("inline", options: .init(queue: "reports")) { job in
                job.logger.debug("Inline ran")
                return 1
            }
            let inline = try #require(entries.with(message: "Inline ran").onlyElement)
            #expect(inline.metadata["jobkit.job.type"] == "inline")
            #expect(inline.metadata["jobkit.job.attempt"] == "1")
            #expect(inline.metadata["jobkit.job.queue"] == "reports")
            #expect(inline.metadata["jobkit.job.id"] != nil)
            // Constant messages: the data is in the metadata, never in the text.
            #expect(entries.all.allSatisfy { !$0.message.contains(id.uuidString) && !$0.message.contains(id.uuidString.lowercased()) })
        }
    }
}
