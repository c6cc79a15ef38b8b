import Foundation

/// Running jobs in the calling task, for the test helpers of `JobKitTesting`: the same claim,
/// run, outcome and write-back path as ``JobExecutor/run()``, without its background loops
/// other than the heartbeat, and returning once no job is left.
extension JobExecutor {
    /// Claims and runs due jobs of the configured queues, at most ``Configuration/concurrency``
    /// at once, until a claim finds nothing while nothing runs, or `limit` jobs were claimed.
    ///
    /// Each job runs through ``execute(_:)`` (handler lookup, payload decoding, timeout,
    /// cancellation, retry policy) and its outcome is written before the next claim, so a job
    /// enqueued by a job, or a retry that is due, is claimed by this same call. Leases are
    /// renewed by the executor's heartbeat, so a long job is not rescued from under it, and a
    /// cancellation requested elsewhere reaches it within a heartbeat (at once when requested
    /// through this process's ``JobService/cancel(_:reason:actor:)``).
    /// - Parameters:
    ///   - limit: The most jobs to claim in all.
    ///   - beforeClaim: Runs before each claim statement (a test helper moves run-at times there).
    /// - Returns: The jobs claimed, in the order claimed, as they were when claimed.
    /// - Throws: ``PostgresError`` from a claim, what `beforeClaim` threw, `CancellationError`.
    package func runUntilIdle(limit: Int, beforeClaim: @Sendable () async throws -> Void) async throws -> [Job] {
        precondition(limit >= 1, "limit must be at least 1")
        return try await self.withInlineHeartbeat {
            var claimed: [Job] = []
            try await withThrowingTaskGroup(of: Void.self) { running in
                var runningCount = 0
                while true {
                    try Task.checkCancellation()
                    let free = min(self.configuration.concurrency - runningCount, limit - claimed.count)
                    if free > 0 {
                        try await beforeClaim()
                        let batch = try await self.service.store.claim(
                            queues: self.configuration.queues, limit: free, owner: self.workerID,
                            leaseDuration: self.service.configuration.leaseDuration)
                        self.register(batch)
                        for job in batch {
                            running.addTask { await self.runRegistered(job) }
                        }
                        runningCount += batch.count
                        claimed += batch
                    }
                    if runningCount == 0 { break }
                    try await running.next()
                    runningCount -= 1
                    await self.writePending()
                }
            }
            return claimed
        }
    }

    /// Runs jobs that were started (`in_progress`) under this executor's ``Configuration/workerID``,
    /// as if it had claimed them, and writes their outcomes.
    /// - Parameter jobs: The started jobs, each with its lease.
    package func runStarted(_ jobs: [Job]) async throws {
        try await self.withInlineHeartbeat {
            self.register(jobs)
            await withTaskGroup(of: Void.self) { running in
                for job in jobs {
                    running.addTask { await self.runRegistered(job) }
                }
            }
        }
    }

    // MARK: - Internals

    /// Runs `body` beside the executor's heartbeat loop, then writes every outcome still queued
    /// and leaves the list of live workers.
    private func withInlineHeartbeat<Result: Sendable>(_ body: @Sendable () async throws -> Result) async throws -> Result {
        let result: Result
        do {
            result = try await withThrowingTaskGroup(of: Void.self) { background in
                background.addTask { await self.heartbeatLoop() }
                defer { background.cancelAll() }
                return try await body()
            }
        } catch {
            await self.flushRemaining()
            await self.leaveWorkers()
            throw error
        }
        await self.flushRemaining()
        await self.leaveWorkers()
        return result
    }

    /// The heartbeat registers this executor as a live worker; an inline run ends here.
    private func leaveWorkers() async {
        // A task of its own: the worker leaves the list even when the caller was cancelled.
        await Task {
            try? await self.service.store.unregisterWorker(id: self.workerID)
        }.value
    }

    /// Records jobs as running, as the claim loop does, and lets this process's
    /// ``JobService/cancel(_:reason:actor:)`` stop them at once.
    private func register(_ jobs: [Job]) {
        let signals = self.state.withLock { state in
            jobs.map { job in
                let signal = CancelSignal()
                state.running[job.id] = Running(token: job.lease?.token ?? UUID(), signal: signal)
                state.peakRunning = max(state.peakRunning, state.running.count)
                return (job.id, signal)
            }
        }
        self.service.localRuns.withLock { runs in
            for (id, signal) in signals { runs[id] = signal }
        }
    }

    private func runRegistered(_ job: Job) async {
        await self.execute(job)
        _ = self.service.localRuns.withLock { $0.removeValue(forKey: job.id) }
    }
}
