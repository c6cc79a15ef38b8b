import Foundation
import LibPQ

extension JobService {
    /// Starts a `scheduled` job by hand: `in_progress` under a new lease for this worker.
    /// - Parameters:
    ///   - id: The job.
    ///   - owner: The lease owner. Defaults to ``Configuration/workerID``.
    /// - Returns: The started job; its ``Job/lease`` token must accompany progress, completion and failure.
    /// - Throws: ``JobError`` `.notFound`, `.illegalTransition`; ``PostgresError``.
    public nonisolated func start(_ id: UUID, owner: String? = nil) async throws -> Job {
        let job = try await self.store.transition(id, .start, set: """
            , attempt = j.attempt + 1, started_at = now(), progress = 0, current_step = NULL, cancel_requested_at = NULL,
            lease_owner = \(owner ?? self.configuration.workerID), lease_token = \(UUID()),
            lease_expires_at = now() + \(self.configuration.leaseDuration.milliseconds) * interval '1 millisecond'
            """)
        self.metrics.recordStarted(queue: job.queue, type: job.type, waited: job.startedAt.map { .seconds($0.timeIntervalSince(job.runAt)) })
        return job
    }

    /// Records the progress of a running job.
    /// - Parameters:
    ///   - id: The job.
    ///   - percent: 0...100.
    ///   - step: What it is doing now; `nil` keeps the last step.
    ///   - lease: The lease token from ``start(_:owner:)``; `nil` skips the ownership check.
    /// - Returns: Whether someone asked for the job to be cancelled.
    /// - Throws: ``JobError`` `.invalidProgress` (before any SQL), `.notFound`, `.illegalTransition`
    ///   (the job is not running), `.leaseLost`; ``PostgresError``.
    @discardableResult
    public nonisolated func reportProgress(_ id: UUID, percent: Int, step: String? = nil, lease: UUID? = nil) async throws -> Bool {
        guard (0...100).contains(percent) else { throw JobError.invalidProgress(percent) }
        return try await self.store.progress(id, percent: percent, step: step, lease: lease)
    }

    /// Completes a running job with a result.
    /// - Parameters:
    ///   - id: The job.
    ///   - result: Its output, stored as JSON.
    ///   - lease: The lease token; `nil` skips the ownership check.
    /// - Returns: The `done` job.
    /// - Throws: ``JobError`` `.payloadEncoding`, `.notFound`, `.illegalTransition`, `.leaseLost`; ``PostgresError``.
    @discardableResult
    public nonisolated func complete(_ id: UUID, result: some Encodable & Sendable = EmptyPayload(), lease: UUID? = nil) async throws -> Job {
        let json = try JobJSON.encode(result)
        let job = try await self.store.transition(id, .complete, lease: lease, set: """
            , result = \(json)::jsonb, finished_at = now(), progress = 100, lease_token = NULL, lease_expires_at = NULL
            """)
        self.metrics.recordEnded(job, outcome: .completed, fromRunning: true)
        return job
    }

    /// Fails a running job: back to `scheduled` after `retryAfter` while attempts remain, else `failed`.
    /// - Parameters:
    ///   - id: The job.
    ///   - message: The error, kept on the job and in its history.
    ///   - retryAfter: The backoff before the next attempt; `nil` fails it for good.
    ///   - lease: The lease token; `nil` skips the ownership check.
    /// - Returns: The job, `scheduled` or `failed`.
    /// - Throws: ``JobError`` `.notFound`, `.illegalTransition`, `.leaseLost`; ``PostgresError``.
    @discardableResult
    public nonisolated func fail(_ id: UUID, message: String, retryAfter: Duration? = nil, lease: UUID? = nil) async throws -> Job {
        if let retryAfter {
            do {
                let job = try await self.store.transition(id, .retryLater, lease: lease, set: """
                    , error_message = \(message), run_at = now() + \(retryAfter.milliseconds) * interval '1 millisecond',
                    lease_token = NULL, lease_expires_at = NULL
                    """, where: " AND j.attempt < j.max_attempts", event: .init(kind: "retry_scheduled", message: message))
                self.metrics.recordEnded(job, outcome: .retried, fromRunning: true)
                return job
            } catch let error as JobError where error.code == .illegalTransition && error.currentStatus == .inProgress {
                // No attempts left: fall through to a final failure.
            }
        }
        let job = try await self.store.transition(id, .fail, lease: lease, set: """
            , error_message = \(message), finished_at = now(), lease_token = NULL, lease_expires_at = NULL
            """, event: .init(kind: "failed", message: message))
        self.metrics.recordEnded(job, outcome: .failed, fromRunning: true)
        return job
    }

    /// Cancels a job: a `scheduled` or `failed` one at once; a running one by asking its runner
    /// to stop (it then ends `cancelled`).
    /// - Parameters:
    ///   - id: The job.
    ///   - reason: Why, kept in its history.
    ///   - actor: Who, kept in its history.
    /// - Returns: The job: `cancelled`, or `in_progress` with ``Job/cancelRequestedAt`` set.
    /// - Throws: ``JobError`` `.notFound`, `.illegalTransition` (done or cancelled already); ``PostgresError``.
    @discardableResult
    public nonisolated func cancel(_ id: UUID, reason: String? = nil, actor: String? = nil) async throws -> Job {
        do {
            let job = try await self.store.transition(id, .cancel, set: """
                , finished_at = now(), lease_token = NULL, lease_expires_at = NULL
                """, where: " AND prev.status <> 'in_progress'", event: .init(kind: "cancelled", message: reason, actor: actor))
            self.metrics.recordEnded(job, outcome: .cancelled, fromRunning: false)
            return job
        } catch let error as JobError where error.code == .illegalTransition && error.currentStatus == .inProgress {
            guard let job = try await self.store.requestCancel(id, reason: reason, actor: actor) else {
                // It finished in between: report what it is now.
                return try await self.cancel(id, reason: reason, actor: actor)
            }
            self.localRuns.withLock { $0[id] }?.fire()
            return job
        }
    }

    /// Sends a `failed` job back to `scheduled` to run now, granting another attempt if needed.
    /// - Parameters:
    ///   - id: The job.
    ///   - actor: Who, kept in its history.
    /// - Returns: The `scheduled` job.
    /// - Throws: ``JobError`` `.notFound`, `.illegalTransition`; ``PostgresError``.
    @discardableResult
    public nonisolated func retry(_ id: UUID, actor: String? = nil) async throws -> Job {
        try await self.store.transition(id, .retry, set: """
            , run_at = now(), finished_at = NULL, progress = 0, current_step = NULL, cancel_requested_at = NULL,
            max_attempts = GREATEST(j.max_attempts, j.attempt + 1)
            """, event: .init(kind: "retried", actor: actor))
    }

    /// Moves a running job to `cancelled` once its runner has stopped.
    nonisolated func markCancelled(_ id: UUID, lease: UUID, reason: String) async throws -> Job {
        let job = try await self.store.transition(id, .cancel, lease: lease, set: """
            , finished_at = now(), error_message = \(reason), lease_token = NULL, lease_expires_at = NULL
            """, event: .init(kind: "cancelled", message: reason))
        self.metrics.recordEnded(job, outcome: .cancelled, fromRunning: true)
        return job
    }
}
