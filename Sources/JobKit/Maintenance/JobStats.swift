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
