/// Where a job is in its life.
///
/// ```
/// scheduled ──start──▶ in_progress ──▶ done
///     │  ▲                  │  │
///     │  └──retry/release───┘  └──▶ failed ──retry──▶ scheduled
///     └────────▶ cancelled ◀──────────┘
/// ```
/// `done` and `cancelled` are terminal. `failed` is final for workers, but an operator may
/// send it back to `scheduled`.
public enum JobStatus: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    /// Waiting to run once its `runAt` has passed (new, delayed, or waiting out a retry's backoff).
    case scheduled
    /// Claimed by a worker under a lease, running.
    case inProgress = "in_progress"
    /// Finished successfully. Terminal.
    case done
    /// Finished with an error and no attempts left (or failed by an operator).
    case failed
    /// Cancelled before or while running. Terminal.
    case cancelled

    /// Whether the job can never change again.
    public var isTerminal: Bool {
        self == .done || self == .cancelled
    }

    /// Whether the job has stopped running: done, failed or cancelled.
    public var isFinished: Bool {
        self == .done || self == .failed || self == .cancelled
    }

    /// The status as the database and the API spell it: `scheduled`, `in_progress`, `done`, `failed`, `cancelled`.
    public var description: String { self.rawValue }
}
