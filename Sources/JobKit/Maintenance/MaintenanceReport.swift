import Foundation

/// What one maintenance run did.
public struct MaintenanceReport: Sendable, Hashable, Codable {
    /// When the run started.
    public var startedAt: Date
    /// How long it took, in milliseconds.
    public var durationMilliseconds: Double
    /// Stuck jobs moved (expired leases) and jobs failed past their timeout.
    public var recovery: RecoveryReport
    /// Rows whose fields disagreed with their status.
    public var validationIssues: [ValidationIssue]
    /// How many of those were fixed.
    public var fixed: Int
    /// Finished jobs deleted, by status.
    public var deleted: [String: Int]
    /// The steps that failed, with their errors.
    public var errors: [String]

    /// Whether the run did anything worth logging.
    public var isEmpty: Bool {
        self.recovery.total == 0 && self.validationIssues.isEmpty && self.deleted.values.allSatisfy { $0 == 0 } && self.errors.isEmpty
    }
}
