import Foundation

/// A queue's flow control across the whole fleet: every executor of every process obeys it,
/// because the claim statement holds it in the database: a per-key limit through key slots (a
/// unique index over the running jobs of a key), a concurrency or rate limit under the queue's
/// row lock.
///
/// A queue without settings has none of these limits; pausing and resuming keep the limits.
public struct QueueSettings: Sendable, Hashable, Codable {
    /// At most this many of the queue's jobs run at once, across all executors. `nil` (the
    /// default) means only each executor's own worker limit applies.
    public var concurrencyLimit: Int?
    /// At most this many of the queue's jobs with one ``JobOptions/concurrencyKey`` run at
    /// once, across all executors. `nil` (the default) means no per-key limit.
    public var keyLimit: Int?
    /// At most this many of the queue's jobs start per period, across all executors (a fixed
    /// window that opens with the first start after the last one closed). `nil` (the default)
    /// means no rate limit.
    public var rateLimit: RateLimit?

    /// N job starts per period.
    public struct RateLimit: Sendable, Hashable, Codable {
        /// How many jobs may start in one period; at least 1.
        public var count: Int
        /// The period; at least 1 millisecond.
        public var period: Duration

        /// Creates a rate limit.
        /// - Parameters:
        ///   - count: How many jobs may start in one period; at least 1.
        ///   - period: The period; at least 1 millisecond.
        public init(_ count: Int, per period: Duration) {
            self.count = count
            self.period = period
        }
    }

    /// Creates settings; every parameter has a default (no limit).
    /// - Parameters:
    ///   - concurrencyLimit: Running jobs of the queue, fleet-wide.
    ///   - keyLimit: Running jobs of one concurrency key, fleet-wide.
    ///   - rateLimit: Job starts per period, fleet-wide.
    public init(concurrencyLimit: Int? = nil, keyLimit: Int? = nil, rateLimit: RateLimit? = nil) {
        self.concurrencyLimit = concurrencyLimit
        self.keyLimit = keyLimit
        self.rateLimit = rateLimit
    }

    /// Whether any limit is set.
    public var hasLimits: Bool { self.concurrencyLimit != nil || self.keyLimit != nil || self.rateLimit != nil }

    /// Checks the values before any SQL runs.
    func validate() throws(JobError) {
        if let limit = self.concurrencyLimit, limit < 1 { throw .invalidArgument("concurrencyLimit must be at least 1, not \(limit)") }
        if let limit = self.keyLimit, limit < 1 { throw .invalidArgument("keyLimit must be at least 1, not \(limit)") }
        if let rate = self.rateLimit {
            guard rate.count >= 1 else { throw .invalidArgument("a rate limit's count must be at least 1, not \(rate.count)") }
            guard rate.period >= .milliseconds(1) else { throw .invalidArgument("a rate limit's period must be at least 1 ms") }
        }
    }
}

/// A queue as operators see it: its settings, whether it is paused, and its waiting and
/// running jobs.
public struct QueueState: Sendable, Hashable, Codable {
    /// The queue's name.
    public var name: String
    /// When it was paused; `nil` when it runs.
    public var pausedAt: Date?
    /// Its limits.
    public var settings: QueueSettings
    /// Its `scheduled` jobs.
    public var scheduled: Int
    /// Its `in_progress` jobs.
    public var inProgress: Int

    /// Whether executors claim none of its jobs.
    public var isPaused: Bool { self.pausedAt != nil }

    /// Creates a queue's state.
    /// - Parameters:
    ///   - name: The queue's name.
    ///   - pausedAt: When it was paused; `nil` when it runs.
    ///   - settings: Its limits. Defaults to none.
    ///   - scheduled: Its waiting jobs. Defaults to 0.
    ///   - inProgress: Its running jobs. Defaults to 0.
    public init(name: String, pausedAt: Date? = nil, settings: QueueSettings = .init(), scheduled: Int = 0, inProgress: Int = 0) {
        self.name = name
        self.pausedAt = pausedAt
        self.settings = settings
        self.scheduled = scheduled
        self.inProgress = inProgress
    }
}
