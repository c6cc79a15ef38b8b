import Foundation
import JobKit
import LibPQ

/// How ``JobService/drain(queue:handlers:options:)`` drains a queue.
public struct DrainOptions: Sendable, Hashable {
    /// Whether jobs whose run-at lies in the future run too: delayed jobs and retries waiting
    /// out their backoff have their run-at moved to now before each claim, so a failing job is
    /// retried at once until its attempts run out (Oban's `with_scheduled: true`). Defaults to
    /// `false`: only jobs due now run, and a retry whose backoff has not passed when the drain
    /// ends stays `scheduled` (``DrainReport/retrying``).
    public var includesFutureJobs: Bool
    /// The most jobs running at once. Defaults to 1: jobs run one after another, in claim order
    /// (priority, then run-at), which keeps a test deterministic.
    public var concurrency: Int
    /// The most jobs to claim in all, a guard against a job that keeps enqueuing jobs. Defaults
    /// to 10,000; ``DrainReport/reachedLimit`` says when the drain stopped there.
    public var limit: Int

    /// Creates options; every parameter has a default.
    public init(includesFutureJobs: Bool = false, concurrency: Int = 1, limit: Int = 10_000) {
        precondition(concurrency >= 1, "concurrency must be at least 1")
        precondition(limit >= 1, "limit must be at least 1")
        self.includesFutureJobs = includesFutureJobs
        self.concurrency = concurrency
        self.limit = limit
    }
}

/// What one ``JobService/drain(queue:handlers:options:)`` ran and how each job ended.
public struct DrainReport: Sendable {
    /// Every job the drain ran, as it is after the drain, in the order each was first claimed;
    /// a job retried within the drain appears once.
    public var jobs: [Job]
    /// How many attempts ran (a job retried within the drain counts once per attempt).
    public var attempts: Int
    /// Whether the drain stopped at ``DrainOptions/limit`` with jobs possibly left.
    public var reachedLimit: Bool

    /// Jobs that ended `done`.
    public var succeeded: [Job] { self.jobs.filter { $0.status == .done } }
    /// Jobs that ended `failed`: attempts used up, an unknown type, a payload that does not decode.
    public var failed: [Job] { self.jobs.filter { $0.status == .failed } }
    /// Jobs back in `scheduled` whose retry is not due yet (only without
    /// ``DrainOptions/includesFutureJobs``).
    public var retrying: [Job] { self.jobs.filter { $0.status == .scheduled } }
    /// Jobs that ended `cancelled`.
    public var cancelled: [Job] { self.jobs.filter { $0.status == .cancelled } }
}

extension JobService {
    /// Runs every due job of a queue in the calling task, and returns when none is left.
    ///
    /// Jobs are claimed and run through the executor's own path (a ``JobExecutor`` with these
    /// handlers and a worker id of its own): the claim statement, payload decoding, the
    /// handler's timeout and retry policy, the outcome written with the lease. A job enqueued by
    /// a job of the queue, or a retry that comes due while the drain runs, runs too. Without
    /// ``DrainOptions/includesFutureJobs``, jobs whose run-at lies in the future are left alone.
    ///
    /// ```swift
    /// try await jobs.enqueue(SendEmail.self, .init(to: "a@example.com", subject: "Hi"))
    /// let report = try await jobs.drain(handlers: [SendEmail(mailer: mailer)])
    /// #expect(report.succeeded.count == 1)
    /// ```
    ///
    /// > Warning: An executor running on the same queue at the same time competes for the jobs;
    /// > the report lists only those this drain ran.
    /// - Parameters:
    ///   - queue: The queue. Defaults to `"default"`.
    ///   - handlers: The handlers for the job types of the queue; a job of another type fails, as
    ///     with an executor.
    ///   - options: Future jobs, concurrency, limit.
    /// - Returns: The jobs run and how each ended.
    /// - Throws: ``PostgresError``; `CancellationError`.
    @discardableResult
    public nonisolated func drain(queue: String = "default", handlers: [any JobHandler], options: DrainOptions = .init()) async throws -> DrainReport {
        let executor = JobExecutor(
            service: self, handlers: handlers,
            configuration: .init(
                queues: [queue], concurrency: options.concurrency,
                workerID: "jobkit-testing-drain-\(UUID().uuidString.prefix(8).lowercased())"))
        let queries = TestingQueries(service: self)
        let includesFutureJobs = options.includesFutureJobs
        let claimed = try await executor.runUntilIdle(limit: options.limit) {
            if includesFutureJobs { try await queries.makeDueNow(queue: queue) }
        }
        var order: [UUID] = []
        var seen: Set<UUID> = []
        for job in claimed where seen.insert(job.id).inserted { order.append(job.id) }
        var jobs: [Job] = []
        jobs.reserveCapacity(order.count)
        for id in order { jobs.append(try await self.job(id)) }
        return DrainReport(jobs: jobs, attempts: claimed.count, reachedLimit: claimed.count >= options.limit)
    }
}
