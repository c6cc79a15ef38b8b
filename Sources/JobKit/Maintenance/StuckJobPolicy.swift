/// What happens to a running job whose worker stopped renewing its lease.
public enum StuckJobPolicy: String, Sendable, Hashable, Codable, CaseIterable {
    /// No progress reported: back to `scheduled` while attempts remain. Progress reported: `failed`,
    /// since half-done work may not be safe to redo. The default.
    case byProgress
    /// Back to `scheduled` while attempts remain, whatever its progress.
    case retry
    /// `failed`, whatever its progress.
    case fail
}

/// What a recovery of stuck jobs did.
public struct RecoveryReport: Sendable, Hashable, Codable {
    /// Jobs sent back to `scheduled`.
    public var rescheduled = 0
    /// Jobs failed: progress reported, no attempts left, or the policy says so.
    public var failed = 0
    /// Jobs whose cancellation was requested, ended `cancelled`.
    public var cancelled = 0
    /// Jobs failed because they ran past their timeout.
    public var timedOut = 0

    /// All jobs moved.
    public var total: Int { self.rescheduled + self.failed + self.cancelled + self.timedOut }
}

/// A field of a job that disagrees with its status.
public struct ValidationIssue: Sendable, Hashable, Codable {
    /// The job.
    public var jobID: UUID
    /// Its status.
    public var status: JobStatus
    /// What is wrong, such as `finished_without_time` or `lease_on_idle_job`.
    public var code: String
    /// Whether the fix is unambiguous (and so is applied when fixing).
    public var isFixable: Bool
}

import Foundation
