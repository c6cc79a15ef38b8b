import Foundation
import JobKit
import LibPQ

/// How one job ended when ``JobService/perform(_:_:options:)`` ran it.
public struct PerformResult<Output: Decodable & Sendable>: Sendable {
    /// The job's state after the run, as the executor would have left it.
    public enum Outcome: Sendable {
        /// The handler returned; its output, read back from the stored result.
        case done(Output)
        /// The handler threw (or timed out) with attempts left: the job is `scheduled` again,
        /// to run at `runAt`, with `error` as its error message.
        case retrying(error: String, runAt: Date)
        /// The handler threw (or timed out) on its last attempt, or the payload did not decode.
        case failed(error: String)
        /// The run was stopped on request; the reason is the job's error message.
        case cancelled(reason: String?)
        /// The outcome could not be written (the lease was lost to someone else); the job is as
        /// they left it.
        case unwritten(JobStatus)
    }

    /// The job as stored after the run.
    public var job: Job
    /// How it ended.
    public var outcome: Outcome

    init(job: Job) throws(JobError) {
        self.job = job
        switch job.status {
        case .done:
            guard let output = try job.result(as: Output.self) else {
                throw JobError.payloadDecoding(id: job.id, type: Output.self, underlying: JobError.invalidArgument("the job has no result"))
            }
            self.outcome = .done(output)
        case .scheduled:
            self.outcome = .retrying(error: job.errorMessage ?? "", runAt: job.runAt)
        case .failed:
            self.outcome = .failed(error: job.errorMessage ?? "")
        case .cancelled:
            self.outcome = .cancelled(reason: job.errorMessage)
        case .inProgress:
            self.outcome = .unwritten(job.status)
        }
    }

    /// The handler's output, or an error saying how the job ended instead.
    /// - Parameters:
    ///   - file: The caller's file, reported in the error.
    ///   - line: The caller's line, reported in the error.
    /// - Returns: The output of a job that ended `done`.
    /// - Throws: ``JobTestingError/Code/notDone`` naming the job's status and error message.
    public func get(file: String = #fileID, line: Int = #line) throws(JobTestingError) -> Output {
        if case .done(let output) = self.outcome { return output }
        throw JobTestingError(
            .notDone,
            message: """
                job \(self.job.id.uuidString.lowercased()) of type "\(self.job.type)" ended \(self.job.status.rawValue), not done, \
                after attempt \(self.job.attempt) of \(self.job.maxAttempts): \(self.job.errorMessage ?? "no error message")
                """,
            jobs: [self.job], file: file, line: line)
    }
}

extension JobService {
    /// Enqueues one job for `handler` and runs it at once in the calling task, as an executor
    /// would, and returns how it ended.
    ///
    /// The job is a real row, enqueued with `options` (its `maxAttempts` and `timeout` default to
    /// the handler's), started under a lease and run through the executor's path: the handler
    /// gets a real ``JobContext`` whose progress is stored, whose cancellation works (from this
    /// process's ``cancel(_:reason:actor:)`` at once, from elsewhere within a heartbeat), and
    /// the handler's timeout and retry policy decide the outcome. One attempt runs: a job that
    /// fails with attempts left comes back ``PerformResult/Outcome/retrying(error:runAt:)``.
    ///
    /// ```swift
    /// let result = try await jobs.perform(Thumbnail(store: store), .init(image: "cat.png"))
    /// #expect(try result.get().width == 64)
    /// ```
    /// - Parameters:
    ///   - handler: The handler to run.
    ///   - payload: Its input.
    ///   - options: Queue, priority, attempts, timeout, reference, unique key of the job.
    /// - Returns: The job after the run, and its outcome.
    /// - Throws: ``JobError`` from enqueueing (`.invalidArgument`, `.payloadEncoding`,
    ///   `.duplicate`) or `.payloadDecoding` of the stored result; ``PostgresError``.
    public nonisolated func perform<Handler: JobHandler>(
        _ handler: Handler,
        _ payload: Handler.Payload,
        options: JobOptions = .init()
    ) async throws -> PerformResult<Handler.Output> {
        let id = try await self.enqueue(Handler.self, payload, options: options)
        return try await self.perform(handler, jobID: id)
    }

    /// Like ``perform(_:_:options:)``, with the payload as JSON text, for payloads the handler's
    /// type cannot express: a malformed payload fails the job as it would in an executor.
    /// - Parameters:
    ///   - handler: The handler to run.
    ///   - payloadJSON: The payload, any JSON value.
    ///   - options: As for ``perform(_:_:options:)``.
    /// - Returns: The job after the run, and its outcome.
    /// - Throws: ``JobError/Code/invalidArgument`` when `payloadJSON` is not JSON; what
    ///   ``perform(_:_:options:)`` throws.
    public nonisolated func perform<Handler: JobHandler>(
        _ handler: Handler,
        payloadJSON: String,
        options: JobOptions = .init()
    ) async throws -> PerformResult<Handler.Output> {
        let payload: JSONValue
        do {
            payload = try PostgresJSONCoders.decoder.decode(JSONValue.self, from: Data(payloadJSON.utf8))
        } catch {
            throw JobError.invalidArgument("payloadJSON is not JSON: \(error)")
        }
        var options = options
        if options.maxAttempts == nil { options.maxAttempts = Handler.retryPolicy.maxAttempts }
        if options.timeout == nil { options.timeout = Handler.timeout }
        let job = try await self.create(Handler.type, payload: payload, options: options)
        return try await self.perform(handler, jobID: job.id)
    }

    /// Runs an existing `scheduled` job of `handler`'s type at once in the calling task, as an
    /// executor would (see ``perform(_:_:options:)``), whatever its run-at: for a job the code
    /// under test enqueued.
    /// - Parameters:
    ///   - handler: The handler for the job's type.
    ///   - jobID: The job.
    /// - Returns: The job after the run, and its outcome.
    /// - Throws: ``JobError`` `.notFound`, `.illegalTransition` (the job is not `scheduled`),
    ///   `.invalidArgument` (it is of another type), `.payloadDecoding` of the stored result;
    ///   ``PostgresError``.
    public nonisolated func perform<Handler: JobHandler>(_ handler: Handler, jobID: UUID) async throws -> PerformResult<Handler.Output> {
        let job = try await self.job(jobID)
        guard job.type == Handler.type else {
            throw JobError.invalidArgument("job \(jobID.uuidString.lowercased()) is of type \"\(job.type)\", not \"\(Handler.type)\"")
        }
        let executor = JobExecutor(
            service: self, handlers: [handler],
            configuration: .init(queues: [job.queue], concurrency: 1, workerID: "jobkit-testing-perform-\(UUID().uuidString.prefix(8).lowercased())"))
        let started = try await self.start(jobID, owner: executor.configuration.workerID)
        try await executor.runStarted([started])
        return try PerformResult(job: try await self.job(jobID))
    }
}
