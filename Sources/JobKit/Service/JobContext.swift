import Foundation
import Logging

/// A running job, as its code sees it inside ``JobService/runAsJob(_:reference:payload:options:_:)``.
///
/// ```swift
/// try await jobs.runAsJob("import", payload: file) { job in
///     for (index, row) in rows.enumerated() {
///         try job.checkCancellation()
///         try await job.progress(index * 100 / rows.count, step: "rows")
///     }
///     return rows.count
/// }
/// ```
public struct JobContext: Sendable {
    /// The job's id.
    public let id: UUID
    /// The job's type name.
    public let type: String
    /// Which attempt this is, from 1.
    public let attempt: Int
    /// The lease this run holds.
    public let lease: UUID
    /// A logger whose metadata carries the job's `jobkit.job.id`, `jobkit.job.type`,
    /// `jobkit.job.attempt` and `jobkit.job.queue`.
    public let logger: Logger
    let service: JobService
    let signal: CancelSignal

    /// Records progress; if the job's cancellation was requested meanwhile, the run is stopped.
    /// - Parameters:
    ///   - percent: 0...100.
    ///   - step: What the job is doing now; `nil` keeps the last step.
    /// - Throws: ``JobError`` `.invalidProgress` (nothing is written), `.leaseLost`; ``LibPQ/PostgresError``.
    public func progress(_ percent: Int, step: String? = nil) async throws {
        let cancelRequested = try await self.service.reportProgress(self.id, percent: percent, step: step, lease: self.lease)
        if cancelRequested { self.signal.fire() }
    }

    /// Whether the run should stop: its task was cancelled or someone asked to cancel the job.
    public var isCancelled: Bool {
        Task.isCancelled || self.signal.isFired
    }

    /// Throws `CancellationError` when the run should stop.
    /// - Throws: `CancellationError`.
    public func checkCancellation() throws {
        if self.isCancelled { throw CancellationError() }
    }

    /// Ends this run of a queued job and puts the job back in `scheduled`, to run again after
    /// `delay`, without spending an attempt; its history records the snooze. (In `runAsJob`,
    /// whose closure runs in the caller's task, the job fails with the snooze as its error.)
    ///
    /// ```swift
    /// guard try await partner.isReady() else { try context.snooze(for: .seconds(30)) }
    /// ```
    /// - Parameter delay: How long to wait; at least zero.
    /// - Throws: Always: a ``JobSnooze`` that the executor catches.
    public func snooze(for delay: Duration) throws -> Never {
        throw JobSnooze(delay: max(delay, .zero))
    }
}

/// Thrown by a queued job to run again later without spending an attempt; see
/// ``JobContext/snooze(for:)``.
public struct JobSnooze: Error, Sendable, Hashable, CustomStringConvertible {
    /// How long the job waits before it may run again.
    public var delay: Duration

    /// Creates a snooze.
    /// - Parameter delay: How long the job waits before it may run again.
    public init(delay: Duration) {
        self.delay = delay
    }

    /// "snoozed for 30.0 seconds".
    public var description: String { "snoozed for \(self.delay)" }
}
