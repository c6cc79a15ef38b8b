import Foundation

/// Counts and timings of the jobs table, from one query; the counts are exact.
public struct JobStats: Sendable, Hashable, Codable {
    /// All jobs.
    public var total: Int
    /// Jobs per status (every status present, zero when none).
    public var byStatus: [String: Int]
    /// Jobs per queue, then per status.
    public var byQueue: [String: [String: Int]]
    /// Jobs per type, then per status.
    public var byType: [String: [String: Int]]
    /// Running jobs whose lease expired (their worker is gone).
    public var stuck: Int
    /// Running jobs under a live lease.
    public var leased: Int
    /// Mean run time of jobs done within the window (among the 1,000 latest finished), in seconds.
    public var averageProcessingSeconds: Double?
    /// 95th percentile run time of jobs done within the window (among the 1,000 latest finished), in seconds.
    public var p95ProcessingSeconds: Double?
    /// The window those two cover, in seconds.
    public var windowSeconds: Double
    /// Jobs finished in the last minute.
    public var finishedLastMinute: Int
    /// When the oldest runnable `scheduled` job became runnable.
    public var oldestScheduledAt: Date?
    /// When the oldest running job started.
    public var oldestInProgressStartedAt: Date?
    /// Periodic schedules registered (see ``JobService/schedules()``).
    public var schedules: Int = 0
}

/// Whether JobKit can work: the database, the schema, maintenance and the workers.
public struct JobHealth: Sendable, Hashable, Codable {
    /// Whether the database answered.
    public var databaseReachable: Bool
    /// The round trip of the health query, in milliseconds.
    public var databaseLatencyMilliseconds: Double?
    /// The schema version applied.
    public var schemaVersion: Int?
    /// The schema version this code needs.
    public var expectedSchemaVersion: Int
    /// When maintenance last ran, and whether it succeeded.
    public var lastMaintenance: MaintenanceRun?
    /// Executors seen within the last three heartbeats.
    public var workers: [Worker]
    /// The jobs table's bloat and the state of the indexes the claim and recovery need; `nil`
    /// when the database is unreachable or the table does not exist yet.
    public var storage: Storage? = nil
    /// Why it is not healthy; empty when healthy.
    public var problems: [String]

    /// Whether everything is in order.
    public var isHealthy: Bool { self.problems.isEmpty }

    /// A maintenance run, as recorded.
    public struct MaintenanceRun: Sendable, Hashable, Codable {
        /// When it started.
        public var startedAt: Date
        /// How long it took, in milliseconds.
        public var durationMilliseconds: Double
        /// Which worker led it.
        public var leader: String
        /// Whether every step succeeded.
        public var succeeded: Bool
    }

    /// A live executor.
    public struct Worker: Sendable, Hashable, Codable {
        /// Its identity.
        public var id: String
        /// The queues it serves.
        public var queues: [String]
        /// Its worker limit.
        public var concurrency: Int
        /// Jobs it ran at its last heartbeat.
        public var running: Int
        /// When it started.
        public var startedAt: Date
        /// Its last heartbeat.
        public var lastSeenAt: Date
    }
}

// MARK: - Table hygiene

extension JobHealth {
    /// When ``JobService/health(workerTimeout:)`` calls the jobs table bloated or its indexes
    /// unfit for the claim. Set them in ``JobService/Configuration/healthThresholds``.
    public struct Thresholds: Sendable, Hashable {
        /// The share of dead row versions in the jobs table above which it counts as bloated,
        /// 0...1. Defaults to 0.2 (20 %).
        public var maximumDeadTupleRatio: Double
        /// The fewest dead row versions that count as bloat or as a vacuum falling behind,
        /// whatever the ratio. Defaults to 10,000.
        public var minimumDeadTuples: Int
        /// How long dead row versions (at least ``minimumDeadTuples``) may wait for a vacuum of the
        /// jobs table, automatic or manual, before health says vacuum is falling behind. Defaults
        /// to 1 hour.
        public var maximumVacuumAge: Duration
        /// The size of the claim index per `scheduled` job above which it counts as bloated, in
        /// bytes. A live entry takes about 40 bytes. Defaults to 512.
        public var maximumClaimIndexBytesPerJob: Int
        /// The claim index size below which it never counts as bloated, in bytes. Defaults to
        /// 8 MiB.
        public var minimumClaimIndexBytes: Int

        /// Creates thresholds; every parameter has a default.
        public init(
            maximumDeadTupleRatio: Double = 0.2,
            minimumDeadTuples: Int = 10_000,
            maximumVacuumAge: Duration = .seconds(3600),
            maximumClaimIndexBytesPerJob: Int = 512,
            minimumClaimIndexBytes: Int = 8 << 20
        ) {
            precondition((0...1).contains(maximumDeadTupleRatio), "maximumDeadTupleRatio must be within 0...1")
            precondition(minimumDeadTuples >= 0 && maximumClaimIndexBytesPerJob >= 1 && minimumClaimIndexBytes >= 0, "thresholds must not be negative")
            precondition(maximumVacuumAge > .zero, "maximumVacuumAge must be positive")
            self.maximumDeadTupleRatio = maximumDeadTupleRatio
            self.minimumDeadTuples = minimumDeadTuples
            self.maximumVacuumAge = maximumVacuumAge
            self.maximumClaimIndexBytesPerJob = maximumClaimIndexBytesPerJob
            self.minimumClaimIndexBytes = minimumClaimIndexBytes
        }
    }

    /// The jobs table and its indexes, as PostgreSQL's statistics show them.
    ///
    /// The tuple counts come from `pg_stat_user_tables`, which the server updates a moment after
    /// each transaction (not at once) and resets when it restarts.
    public struct Storage: Sendable, Hashable, Codable {
        /// Live row versions of the jobs table.
        public var liveTuples: Int
        /// Dead row versions waiting for a vacuum.
        public var deadTuples: Int
        /// Dead row versions as a share of all, 0...1.
        public var deadTupleRatio: Double
        /// The last vacuum of the table, automatic or manual; `nil` when none since statistics began.
        public var lastVacuumAt: Date?
        /// The last automatic vacuum of the table.
        public var lastAutovacuumAt: Date?
        /// Whether autovacuum may vacuum the table (the server's `autovacuum` setting and the
        /// table's `autovacuum_enabled`).
        public var isAutovacuumEnabled: Bool
        /// The table's size on disk (without indexes and TOAST), in bytes.
        public var tableBytes: Int
        /// The claim index's size, in bytes; `nil` when it is missing.
        public var claimIndexBytes: Int?
        /// Jobs in `scheduled` (exact, from the job counts); `nil` when the counts are missing.
        public var scheduledJobs: Int?
        /// Indexes JobKit needs that do not exist.
        public var missingIndexes: [String]
        /// Indexes JobKit needs that exist but are not valid (a failed `CREATE INDEX
        /// CONCURRENTLY` or `REINDEX CONCURRENTLY` leaves one): queries cannot use them.
        public var invalidIndexes: [String]
    }
}
