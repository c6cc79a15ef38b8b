import Foundation
import LibPQ

extension JobService {
    /// Pauses a queue across the fleet: from the next claim on, no executor of any process
    /// starts its jobs. Running jobs go on; enqueueing goes on. Pausing a paused queue keeps its
    /// first pause time.
    /// - Parameter queue: The queue's name.
    /// - Throws: ``JobError`` `.invalidArgument` for an empty name; ``PostgresError``.
    public nonisolated func pauseQueue(_ queue: String) async throws {
        guard !queue.isEmpty else { throw JobError.invalidArgument("the queue name is empty") }
        try await self.store.setPaused(queue, true)
    }

    /// Resumes a paused queue; its idle executors wake at once (NOTIFY), or at their next poll
    /// without notifications.
    /// - Parameter queue: The queue's name.
    /// - Throws: ``JobError`` `.invalidArgument` for an empty name; ``PostgresError``.
    public nonisolated func resumeQueue(_ queue: String) async throws {
        guard !queue.isEmpty else { throw JobError.invalidArgument("the queue name is empty") }
        try await self.store.setPaused(queue, false)
    }

    /// Sets a queue's fleet-wide limits, replacing the ones it had (`QueueSettings()` removes
    /// them). Executors pick them up at their next claim.
    ///
    /// ```swift
    /// // At most 2 exports per customer, 20 in all, 600 started per minute.
    /// try await jobs.configureQueue("exports", QueueSettings(
    ///     concurrencyLimit: 20, keyLimit: 2, rateLimit: .init(600, per: .seconds(60))))
    /// ```
    /// - Parameters:
    ///   - queue: The queue's name.
    ///   - settings: The limits.
    /// - Throws: ``JobError`` `.invalidArgument` (nothing is written); ``PostgresError``.
    public nonisolated func configureQueue(_ queue: String, _ settings: QueueSettings) async throws {
        guard !queue.isEmpty else { throw JobError.invalidArgument("the queue name is empty") }
        try settings.validate()
        try await self.store.configure(queue, settings)
    }

    /// Every queue that has settings or waiting or running jobs: paused or not, its limits and
    /// its counts, by name.
    /// - Returns: The queues.
    /// - Throws: ``PostgresError``.
    public nonisolated func queues() async throws -> [QueueState] {
        try await self.store.queueStates()
    }
}
