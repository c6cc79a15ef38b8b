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
    ///   - options: Queue, priority, run-at (delayed jobs), unique key, reference; `maxAttempts`
    ///     defaults to the handler's ``RetryPolicy/maxAttempts``, `timeout` to its ``JobHandler/timeout``.
    ///   - connection: A connection inside the caller's transaction, or `nil` for a transaction of its own.
    /// - Returns: The new job's id.
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
    ///   - options: Options for every job (a `uniqueKey` here would clash; use per-job keys via ``enqueue(_:_:options:on:)``).
    ///   - connection: A connection inside the caller's transaction, or `nil` for a transaction of its own.
    /// - Returns: The new jobs' ids, in the order of `payloads`.
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
        if payloads.count > 1, let key = options.uniqueKey {
            throw JobError.duplicate(uniqueKey: key)
        }
        var jobs: [JobStore.NewJob] = []
        jobs.reserveCapacity(payloads.count)
        for payload in payloads {
            jobs.append(try self.newJob(Handler.type, payload: payload, options: options))
        }
        guard !jobs.isEmpty else { return [] }
        // One producer span for the call; every row carries its context.
        try await self.tracing.withEnqueueSpan(
            type: Handler.type, queue: options.queue, count: jobs.count, id: jobs.count == 1 ? jobs[0].id : nil
        ) { traceContext in
            if let traceContext {
                for index in jobs.indices { jobs[index].traceContextJSON = traceContext }
            }
            try await self.store.enqueue(jobs, on: connection)
        }
        self.metrics.recordEnqueued(queue: options.queue, type: Handler.type, count: jobs.count)
        return jobs.map(\.id)
    }
}
