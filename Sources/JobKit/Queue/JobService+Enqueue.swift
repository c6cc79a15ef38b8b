import Foundation
import LibPQ

extension JobService {
    /// Enqueues a job for a handler: a `scheduled` row that an executor of its queue will claim.
    ///
    /// Idle executors wake at once (NOTIFY). With `connection`, the job is written in the
    /// caller's transaction: it exists if and only if that transaction commits.
    ///
    /// With a tracer configured, the call is a producer span (`"<type> send"`) whose context the
    /// row keeps, so the run continues the trace in whichever process claims it; the
    /// `jobkit.jobs.enqueued` counter counts the job (Documentation/Observability.md).
    /// - Parameters:
    ///   - handler: The handler type that runs it.
    ///   - payload: Its input.
    ///   - options: Queue, priority, run-at (delayed jobs), unique key or ``UniqueJob`` rule,
    ///     concurrency key, reference; `maxAttempts` defaults to the handler's
    ///     ``RetryPolicy/maxAttempts``, `timeout` to its ``JobHandler/timeout``.
    ///   - connection: A connection inside the caller's transaction, or `nil` for a transaction of its own.
    /// - Returns: The new job's id; for a unique job whose equal exists (and the rule
    ///   ``UniqueJob/Conflict/returnExisting`` or ``UniqueJob/Conflict/replace``), the existing job's id.
    /// - Throws: ``JobError`` `.invalidArgument`, `.payloadEncoding`, `.duplicate`; ``PostgresError``.
    @discardableResult
    public nonisolated func enqueue<Handler: JobHandler>(
        _ handler: Handler.Type,
        _ payload: Handler.Payload,
        options: JobOptions = .init(),
        on connection: PostgresConnection? = nil
    ) async throws -> UUID {
        try await self.enqueueMany(handler, [payload], options: options, on: connection)[0]
    }

    /// Enqueues many jobs for a handler in one statement (or one `COPY` for large batches).
    /// - Parameters:
    ///   - handler: The handler type that runs them.
    ///   - payloads: Their inputs, one job each.
    ///   - options: Options for every job (a `uniqueKey` names one job: with more than one payload
    ///     it is refused; ``JobOptions/unique`` fits many).
    ///   - connection: A connection inside the caller's transaction, or `nil` for a transaction of its own.
    /// - Returns: The jobs' ids, in the order of `payloads`; with ``JobOptions/unique``, equal
    ///   payloads (within the call, or with a job already there) share one job and one id.
    /// - Throws: ``JobError`` `.invalidArgument`, `.payloadEncoding`, `.duplicate`; ``PostgresError``.
    @discardableResult
    public nonisolated func enqueueMany<Handler: JobHandler>(
        _ handler: Handler.Type,
        _ payloads: [Handler.Payload],
        options: JobOptions = .init(),
        on connection: PostgresConnection? = nil
    ) async throws -> [UUID] {
        var options = options
        if options.maxAttempts == nil { options.maxAttempts = Handler.retryPolicy.maxAttempts }
        if options.timeout == nil { options.timeout = Handler.timeout }
        if payloads.count > 1, options.uniqueKey != nil {
            throw JobError.invalidArgument("a uniqueKey names one job, and enqueueMany got \(payloads.count); use unique for a rule that fits many")
        }
        var jobs: [JobStore.NewJob] = []
        jobs.reserveCapacity(payloads.count)
        for payload in payloads {
            jobs.append(try self.newJob(Handler.type, payload: payload, options: options, isEnqueued: true))
        }
        guard !jobs.isEmpty else { return [] }
        // One producer span for the call; every row carries its context.
        let ids = try await self.tracing.withEnqueueSpan(
            type: Handler.type, queue: options.queue, count: jobs.count, id: jobs.count == 1 ? jobs[0].id : nil
        ) { traceContext in
            if let traceContext {
                for index in jobs.indices { jobs[index].traceContextJSON = traceContext }
            }
            return try await self.store.enqueue(jobs, on: connection)
        }
        self.metrics.recordEnqueued(queue: options.queue, type: Handler.type, count: jobs.count)
        return ids
    }
}
