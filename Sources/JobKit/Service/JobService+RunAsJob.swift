import Foundation
import LibPQ
import Logging
import Tracing

extension JobService {
    /// Runs an async function as a tracked job in this process.
    ///
    /// Creates the job already `in_progress` under a lease (one round trip), runs `body`,
    /// renews the lease every ``Configuration/heartbeatInterval`` while it runs, then stores its
    /// result (`done`) or its error (`failed`) in one more round trip, and returns or rethrows
    /// what `body` did.
    ///
    /// Cancellation works both ways: cancelling the calling task ends the job `cancelled`;
    /// cancelling the job from anywhere else (``cancel(_:reason:actor:)`` in any process, the CLI,
    /// SQL) cancels `body`'s task, at once when the service runs, else within a heartbeat.
    ///
    /// With a tracer configured, the call is a span `"<type> run"` (a child of the caller's) that
    /// `body` runs in; its logger carries `jobkit.job.id`, `.type`, `.attempt` and `.queue`; the
    /// `jobkit.jobs.*` metrics count it (Documentation/Observability.md).
    ///
    /// - Parameters:
    ///   - type: The job's type name, such as `"ocr"`.
    ///   - reference: The entity the job works on.
    ///   - payload: Its input, stored as JSON.
    ///   - options: Queue, priority, timeout; `reference` here wins over `options.reference`.
    ///   - body: The work, given the running job's ``JobContext``.
    /// - Returns: What `body` returned.
    /// - Throws: What `body` threw; `CancellationError` when the caller was cancelled;
    ///   ``JobError`` `.cancelled` when the job was cancelled elsewhere, `.timedOut`, `.leaseLost`,
    ///   `.invalidArgument`, `.payloadEncoding`; ``PostgresError``.
    public nonisolated func runAsJob<Result: Codable & Sendable>(
        _ type: String,
        reference: JobReference? = nil,
        payload: some Encodable & Sendable = EmptyPayload(),
        options: JobOptions = .init(),
        _ body: @escaping @Sendable (JobContext) async throws -> Result
    ) async throws -> Result {
        var options = options
        if let reference { options.reference = reference }
        var new = try self.newJob(type, payload: payload, options: options)
        guard let span = self.tracing.startSpan("\(type) run", context: ServiceContext.current ?? .topLevel, kind: .internal) else {
            return try await self.run(new, timeout: options.timeout, span: nil, body)
        }
        defer { span.end() }
        span.updateAttributes { attributes in
            attributes[JobTracing.Attribute.id] = new.id.uuidString.lowercased()
            attributes[JobTracing.Attribute.type] = type
            attributes[JobTracing.Attribute.queue] = options.queue
        }
        new.traceContextJSON = self.tracing.carrierJSON(of: span.context)
        return try await ServiceContext.$current.withValue(span.context) {
            try await self.run(new, timeout: options.timeout, span: span, body)
        }
    }

    /// `runAsJob` once its row is built: inserts it started, runs `body`, stores the outcome.
    private nonisolated func run<Result: Codable & Sendable>(
        _ new: JobStore.NewJob,
        timeout: Duration?,
        span: (any Span)?,
        _ body: @escaping @Sendable (JobContext) async throws -> Result
    ) async throws -> Result {
        let leaseToken = UUID()
        let job: Job
        do {
            job = try await self.store.insertStarted(
                new,
                lease: JobLease(owner: self.configuration.workerID, token: leaseToken, expiresAt: Date()),
                leaseDuration: self.configuration.leaseDuration)
        } catch {
            JobTracing.fail(span, error)
            throw error
        }
        self.metrics.recordStarted(queue: job.queue, type: job.type, waited: nil)
        span?.attributes[JobTracing.Attribute.attempt] = job.attempt
        let signal = CancelSignal()
        self.localRuns.withLock { $0[job.id] = signal }
        defer { _ = self.localRuns.withLock { $0.removeValue(forKey: job.id) } }

        let logger = Self.jobLogger(self.logger, job)
        logger.debug("Job started")
        let context = JobContext(id: job.id, type: job.type, attempt: job.attempt, lease: leaseToken, logger: logger, service: self, signal: signal)
        func ended(_ outcome: String, error: (any Error)? = nil) {
            span?.attributes[JobTracing.Attribute.outcome] = outcome
            if let error { JobTracing.fail(span, error) }
        }

        switch await self.supervise(context, timeout: timeout, renewsLease: true, body) {
        case .returned(let value):
            _ = try await Self.shielded { try await self.complete(job.id, result: value, lease: leaseToken) }
            ended("completed")
            logger.debug("Job done")
            return value
        case .threw(let error):
            if Task.isCancelled {
                _ = try await Self.shielded { try await self.markCancelled(job.id, lease: leaseToken, reason: "the caller was cancelled") }
                ended("cancelled")
                logger.debug("Job cancelled by its caller")
                throw error
            }
            if signal.isFired {
                _ = try await Self.shielded { try await self.markCancelled(job.id, lease: leaseToken, reason: "cancellation was requested") }
                ended("cancelled")
                logger.debug("Job cancelled on request")
                throw JobError.cancelled(id: job.id)
            }
            _ = try await Self.shielded { try await self.fail(job.id, message: Self.describe(error), lease: leaseToken) }
            ended("failed", error: error)
            logger.debug("Job failed", metadata: ["jobkit.job.error": "\(error)"])
            throw error
        case .cancelRequested:
            _ = try await Self.shielded { try await self.markCancelled(job.id, lease: leaseToken, reason: "cancellation was requested") }
            ended("cancelled")
            logger.debug("Job cancelled on request")
            throw JobError.cancelled(id: job.id)
        case .timedOut(let timeout):
            let error = JobError.timedOut(id: job.id, after: timeout)
            _ = try await Self.shielded { try await self.fail(job.id, message: error.description, lease: leaseToken) }
            ended("failed", error: error)
            logger.debug("Job timed out")
            throw error
        case .leaseLost(let error):
            ended("lease_lost", error: error)
            logger.info("Job lease lost; its outcome is left to whoever holds it now")
            throw error
        }
    }

    /// `logger` with the job's metadata: `jobkit.job.id`, `.type`, `.attempt` and `.queue`.
    static func jobLogger(_ logger: Logger, _ job: Job) -> Logger {
        var logger = logger
        logger[metadataKey: "jobkit.job.id"] = "\(job.id)"
        logger[metadataKey: "jobkit.job.type"] = "\(job.type)"
        logger[metadataKey: "jobkit.job.attempt"] = "\(job.attempt)"
        logger[metadataKey: "jobkit.job.queue"] = "\(job.queue)"
        return logger
    }

    /// Returns `body` wrapped so that every call runs as a tracked job (the decorator form of
    /// ``runAsJob(_:reference:payload:options:_:)``): the input is the payload, the output the result.
    ///
    /// ```swift
    /// let ocr = jobs.tracked("ocr") { (document: Document) async throws -> Text in
    ///     try await recognize(document)
    /// }
    /// let text = try await ocr(document)
    /// ```
    /// - Parameters:
    ///   - type: The jobs' type name.
    ///   - options: Options for every call's job.
    ///   - reference: Derives each call's reference from its input.
    ///   - body: The function to track.
    /// - Returns: A callable with `body`'s signature.
    public nonisolated func tracked<Input: Codable & Sendable, Output: Codable & Sendable>(
        _ type: String,
        options: JobOptions = .init(),
        reference: (@Sendable (Input) -> JobReference?)? = nil,
        _ body: @escaping @Sendable (Input) async throws -> Output
    ) -> TrackedJob<Input, Output> {
        TrackedJob(service: self, type: type, options: options, reference: reference) { input, _ in try await body(input) }
    }

    /// Like ``tracked(_:options:reference:_:)-(_,_,_,(Input)->Output)``, for functions that report progress through the ``JobContext``.
    /// - Parameters:
    ///   - type: The jobs' type name.
    ///   - options: Options for every call's job.
    ///   - reference: Derives each call's reference from its input.
    ///   - body: The function to track, given its input and the running job's ``JobContext``.
    /// - Returns: A callable that takes the input and returns `body`'s output.
    public nonisolated func tracked<Input: Codable & Sendable, Output: Codable & Sendable>(
        _ type: String,
        options: JobOptions = .init(),
        reference: (@Sendable (Input) -> JobReference?)? = nil,
        _ body: @escaping @Sendable (Input, JobContext) async throws -> Output
    ) -> TrackedJob<Input, Output> {
        TrackedJob(service: self, type: type, options: options, reference: reference, body: body)
    }

    // MARK: - Internals

    enum RunOutcome<Result: Sendable>: Sendable {
        case returned(Result)
        case threw(any Error)
        case cancelRequested
        case timedOut(Duration)
        case leaseLost(JobError)
    }

    /// Runs `body` beside its cancellation watch, its timeout and (with `renewsLease`) its own
    /// heartbeat; the first to finish decides, and the others (the body included) are cancelled
    /// and awaited. An executor renews all its jobs' leases at once, so its jobs pass `false`.
    nonisolated func supervise<Result: Sendable>(
        _ context: JobContext,
        timeout: Duration?,
        renewsLease: Bool,
        _ body: @escaping @Sendable (JobContext) async throws -> Result
    ) async -> RunOutcome<Result> {
        let heartbeat = self.configuration.heartbeatInterval
        let leaseDuration = self.configuration.leaseDuration
        return await withTaskGroup(of: RunOutcome<Result>?.self) { group in
            group.addTask {
                do { return .returned(try await body(context)) } catch { return .threw(error) }
            }
            group.addTask {
                await context.signal.wait()
                return context.signal.isFired ? .cancelRequested : nil
            }
            if renewsLease { group.addTask {
                while true {
                    do { try await Task.sleep(for: heartbeat) } catch { return nil }
                    do {
                        if try await self.store.renewLease(context.id, lease: context.lease, duration: leaseDuration) {
                            context.signal.fire()
                        }
                    } catch let error as JobError where error.code == .leaseLost {
                        return .leaseLost(error)
                    } catch {
                        if Task.isCancelled { return nil }
                        context.logger.info("Lease renewal failed; retrying at the next heartbeat", metadata: ["jobkit.error": "\(error)"])
                    }
                }
            } }
            if let timeout {
                group.addTask {
                    do { try await Task.sleep(for: timeout) } catch { return nil }
                    return .timedOut(timeout)
                }
            }
            var outcome: RunOutcome<Result> = .threw(CancellationError())
            while let next = await group.next() {
                if let next {
                    outcome = next
                    break
                }
            }
            group.cancelAll()
            return outcome
        }
    }

    /// Runs `operation` in a task of its own so that the caller's cancellation does not stop
    /// it: a job's final status must be written even when the caller was cancelled.
    static func shielded<Value: Sendable>(_ operation: @escaping @Sendable () async throws -> Value) async throws -> Value {
        try await Task { try await operation() }.value
    }

    /// `Type: description` of an error, for the job's error message.
    static func describe(_ error: any Error) -> String {
        "\(String(reflecting: Swift.type(of: error))): \(error)"
    }
}

/// An async function that runs every call as a tracked job; made by ``JobService/tracked(_:options:reference:_:)-(_,_,_,(Input)->Output)``.
public struct TrackedJob<Input: Codable & Sendable, Output: Codable & Sendable>: Sendable {
    let service: JobService
    /// The jobs' type name.
    public let type: String
    /// Options for every call's job.
    public let options: JobOptions
    let reference: (@Sendable (Input) -> JobReference?)?
    let body: @Sendable (Input, JobContext) async throws -> Output

    /// Runs the function on `input` as a tracked job.
    /// - Parameter input: The input, stored as the payload.
    /// - Returns: The function's output, stored as the result.
    /// - Throws: What the function threw, and what ``JobService/runAsJob(_:reference:payload:options:_:)`` throws.
    public func callAsFunction(_ input: Input) async throws -> Output {
        let body = self.body
        return try await self.service.runAsJob(self.type, reference: self.reference?(input), payload: input, options: self.options) { context in
            try await body(input, context)
        }
    }
}
