import Foundation
import LibPQ

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
        let new = try self.newJob(type, payload: payload, options: options)
        let leaseToken = UUID()
        let job = try await self.store.insertStarted(
            new,
            lease: JobLease(owner: self.configuration.workerID, token: leaseToken, expiresAt: Date()),
            leaseDuration: self.configuration.leaseDuration)
        let signal = CancelSignal()
        self.localRuns.withLock { $0[job.id] = signal }
        defer { _ = self.localRuns.withLock { $0.removeValue(forKey: job.id) } }

        var logger = self.logger
        logger[metadataKey: "jobkit.job.id"] = "\(job.id)"
        logger[metadataKey: "jobkit.job.type"] = "\(type)"
        logger.debug("Job started")
        let context = JobContext(id: job.id, type: type, attempt: job.attempt, lease: leaseToken, logger: logger, service: self, signal: signal)

        switch await self.supervise(context, timeout: options.timeout, renewsLease: true, body) {
        case .returned(let value):
            _ = try await Self.shielded { try await self.complete(job.id, result: value, lease: leaseToken) }
            logger.debug("Job done")
            return value
        case .threw(let error):
            if Task.isCancelled {
                _ = try await Self.shielded { try await self.markCancelled(job.id, lease: leaseToken, reason: "the caller was cancelled") }
                logger.debug("Job cancelled by its caller")
                throw error
            }
            if signal.isFired {
                _ = try await Self.shielded { try await self.markCancelled(job.id, lease: leaseToken, reason: "cancellation was requested") }
                logger.debug("Job cancelled on request")
                throw JobError.cancelled(id: job.id)
            }
            _ = try await Self.shielded { try await self.fail(job.id, message: Self.describe(error), lease: leaseToken) }
            logger.debug("Job failed", metadata: ["jobkit.job.error": "\(error)"])
            throw error
        case .cancelRequested:
            _ = try await Self.shielded { try await self.markCancelled(job.id, lease: leaseToken, reason: "cancellation was requested") }
            logger.debug("Job cancelled on request")
            throw JobError.cancelled(id: job.id)
        case .timedOut(let timeout):
            let error = JobError.timedOut(id: job.id, after: timeout)
            _ = try await Self.shielded { try await self.fail(job.id, message: error.description, lease: leaseToken) }
            logger.debug("Job timed out")
            throw error
        case .leaseLost(let error):
            logger.info("Job lease lost; its outcome is left to whoever holds it now")
            throw error
        }
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
