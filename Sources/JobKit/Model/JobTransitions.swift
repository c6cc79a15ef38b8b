/// The one table of allowed status changes.
///
/// Every status change in JobKit consults this table: the SQL of each change only applies
/// when the row's current status is one this table allows for the requested one. A pure
/// value, tested without a database.
public struct JobTransitions: Sendable {
    /// A kind of status change, named after what causes it.
    public enum Move: String, Sendable, Hashable, CaseIterable {
        /// A worker or caller starts the job: `scheduled → in_progress`.
        case start
        /// The job finished: `in_progress → done`.
        case complete
        /// The job failed for good: `in_progress → failed`.
        case fail
        /// The job failed and will run again after a backoff: `in_progress → scheduled`.
        case retryLater
        /// A worker gives a job back unfinished (shutdown, expired lease): `in_progress → scheduled`.
        case release
        /// The job asked to run again later, without spending an attempt: `in_progress → scheduled`.
        case snooze
        /// An operator or caller sends a failed job back: `failed → scheduled`.
        case retry
        /// Cancel: `scheduled`, `in_progress` (its runner stops) or `failed` → `cancelled`.
        case cancel
        /// An operator fails a running job: `in_progress` → `failed` (stop a job that is not running with `cancel`).
        case forceFail
        /// An operator sends a stuck or failed job back: `in_progress` or `failed` → `scheduled`.
        case forceReset
    }

    /// The status a move leads to.
    /// - Parameter move: The move.
    /// - Returns: Its target status.
    public static func target(of move: Move) -> JobStatus {
        switch move {
        case .start: .inProgress
        case .complete: .done
        case .fail, .forceFail: .failed
        case .retryLater, .release, .snooze, .retry, .forceReset: .scheduled
        case .cancel: .cancelled
        }
    }

    /// The statuses a move may start from.
    /// - Parameter move: The move.
    /// - Returns: The statuses from which the move is legal.
    public static func sources(of move: Move) -> Set<JobStatus> {
        switch move {
        case .start: [.scheduled]
        case .complete, .fail, .retryLater, .release, .snooze: [.inProgress]
        case .retry: [.failed]
        case .cancel: [.scheduled, .inProgress, .failed]
        case .forceFail: [.inProgress]
        case .forceReset: [.inProgress, .failed]
        }
    }

    /// Whether `move` is legal from `status`.
    /// - Parameters:
    ///   - move: The move.
    ///   - status: The current status.
    /// - Returns: `true` when the table allows it.
    public static func allows(_ move: Move, from status: JobStatus) -> Bool {
        self.sources(of: move).contains(status)
    }
}

extension JobStatus {
    /// Whether some move leads from this status to `status`.
    /// - Parameter status: The status to move to.
    /// - Returns: `true` when the transition table has such a move.
    public func canTransition(to status: JobStatus) -> Bool {
        JobTransitions.Move.allCases.contains { move in
            JobTransitions.target(of: move) == status && JobTransitions.allows(move, from: self)
        }
    }
}
