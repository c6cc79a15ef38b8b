import Foundation
import JobKit

// The JSON shapes of the admin API, one type per schema of Documentation/openapi.json.
// Optional members are left out of the JSON when absent, except `next_cursor`, which is
// always present (null on the last page).

/// A job (`Job` in the OpenAPI document). The lease's token is never shown: it is the worker's
/// proof of ownership.
struct JobResource: Encodable {
    var id: String
    var queue: String
    var type: String
    var status: JobStatus
    var priority: Int
    var payload: JSONValue
    var result: JSONValue?
    var errorMessage: String?
    var attempt: Int
    var maxAttempts: Int
    var progress: Int
    var currentStep: String?
    var reference: ReferenceResource?
    var uniqueKey: String?
    var runAt: Date
    var createdAt: Date
    var startedAt: Date?
    var finishedAt: Date?
    var updatedAt: Date
    var timeoutSeconds: Double?
    var lease: LeaseResource?
    var cancelRequestedAt: Date?

    struct ReferenceResource: Encodable {
        var type: String
        var id: String
    }

    struct LeaseResource: Encodable {
        var owner: String
        var expiresAt: Date

        enum CodingKeys: String, CodingKey {
            case owner
            case expiresAt = "expires_at"
        }
    }

    enum CodingKeys: String, CodingKey {
        case id, queue, type, status, priority, payload, result
        case errorMessage = "error_message"
        case attempt
        case maxAttempts = "max_attempts"
        case progress
        case currentStep = "current_step"
        case reference
        case uniqueKey = "unique_key"
        case runAt = "run_at"
        case createdAt = "created_at"
        case startedAt = "started_at"
        case finishedAt = "finished_at"
        case updatedAt = "updated_at"
        case timeoutSeconds = "timeout_seconds"
        case lease
        case cancelRequestedAt = "cancel_requested_at"
    }

    init(_ job: Job) {
        self.id = AdminJSON.id(job.id)
        self.queue = job.queue
        self.type = job.type
        self.status = job.status
        self.priority = job.priority
        self.payload = JSONValue(parsing: job.payloadJSON)
        self.result = job.resultJSON.map(JSONValue.init(parsing:))
        self.errorMessage = job.errorMessage
        self.attempt = job.attempt
        self.maxAttempts = job.maxAttempts
        self.progress = job.progress
        self.currentStep = job.currentStep
        self.reference = job.reference.map { ReferenceResource(type: $0.type, id: $0.id) }
        self.uniqueKey = job.uniqueKey
        self.runAt = job.runAt
        self.createdAt = job.createdAt
        self.startedAt = job.startedAt
        self.finishedAt = job.finishedAt
        self.updatedAt = job.updatedAt
        self.timeoutSeconds = job.timeout.map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 }
        self.lease = job.lease.map { LeaseResource(owner: $0.owner, expiresAt: $0.expiresAt) }
        self.cancelRequestedAt = job.cancelRequestedAt
    }
}

/// One entry of a job's history (`JobEvent`).
struct JobEventResource: Encodable {
    var id: Int
    var at: Date
    var kind: String
    var fromStatus: JobStatus?
    var toStatus: JobStatus?
    var message: String?
    var actor: String?
    var attempt: Int?

    enum CodingKeys: String, CodingKey {
        case id, at, kind
        case fromStatus = "from_status"
        case toStatus = "to_status"
        case message, actor, attempt
    }

    init(_ event: JobEvent) {
        self.id = event.id
        self.at = event.at
        self.kind = event.kind
        self.fromStatus = event.fromStatus
        self.toStatus = event.toStatus
        self.message = event.message
        self.actor = event.actor
        self.attempt = event.attempt
    }
}

/// A job with its history (`JobDetail`).
struct JobDetailResource: Encodable {
    var job: JobResource
    var history: [JobEventResource]
}

/// A page of jobs (`JobPage`).
struct JobPageResource: Encodable {
    var jobs: [JobResource]
    var nextCursor: UUID?

    enum CodingKeys: String, CodingKey {
        case jobs
        case nextCursor = "next_cursor"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.jobs, forKey: .jobs)
        try container.encode(self.nextCursor.map(AdminJSON.id), forKey: .nextCursor)
    }
}

/// Counts and timings (`Stats`).
struct StatsResource: Encodable {
    var total: Int
    var byStatus: [String: Int]
    var byQueue: [String: [String: Int]]
    var byType: [String: [String: Int]]
    var stuck: Int
    var leased: Int
    var averageProcessingSeconds: Double?
    var p95ProcessingSeconds: Double?
    var windowSeconds: Double
    var finishedLastMinute: Int
    var oldestScheduledAt: Date?
    var oldestInProgressStartedAt: Date?
    var schedules: Int

    enum CodingKeys: String, CodingKey {
        case total
        case byStatus = "by_status"
        case byQueue = "by_queue"
        case byType = "by_type"
        case stuck, leased
        case averageProcessingSeconds = "average_processing_seconds"
        case p95ProcessingSeconds = "p95_processing_seconds"
        case windowSeconds = "window_seconds"
        case finishedLastMinute = "finished_last_minute"
        case oldestScheduledAt = "oldest_scheduled_at"
        case oldestInProgressStartedAt = "oldest_in_progress_started_at"
        case schedules
    }

    init(_ stats: JobStats) {
        self.total = stats.total
        self.byStatus = stats.byStatus
        self.byQueue = stats.byQueue
        self.byType = stats.byType
        self.stuck = stats.stuck
        self.leased = stats.leased
        self.averageProcessingSeconds = stats.averageProcessingSeconds
        self.p95ProcessingSeconds = stats.p95ProcessingSeconds
        self.windowSeconds = stats.windowSeconds
        self.finishedLastMinute = stats.finishedLastMinute
        self.oldestScheduledAt = stats.oldestScheduledAt
        self.oldestInProgressStartedAt = stats.oldestInProgressStartedAt
        self.schedules = stats.schedules
    }
}

/// A periodic schedule as registered (`Schedule`).
struct ScheduleResource: Encodable {
    var name: String
    var jobType: String
    var queue: String
    var expression: String
    var kind: String
    var timeZone: String
    var missedTicks: String
    var backfillLimit: Int?
    var nextTickAt: Date?
    var lastTickAt: Date?
    var lastEnqueuedAt: Date?
    var registeredBy: String?
    var createdAt: Date
    var updatedAt: Date

    enum CodingKeys: String, CodingKey {
        case name
        case jobType = "job_type"
        case queue, expression, kind
        case timeZone = "time_zone"
        case missedTicks = "missed_ticks"
        case backfillLimit = "backfill_limit"
        case nextTickAt = "next_tick_at"
        case lastTickAt = "last_tick_at"
        case lastEnqueuedAt = "last_enqueued_at"
        case registeredBy = "registered_by"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    init(_ schedule: RegisteredSchedule) {
        self.name = schedule.name
        self.jobType = schedule.jobType
        self.queue = schedule.queue
        self.expression = schedule.expression
        self.kind = schedule.kind
        self.timeZone = schedule.timeZone
        self.missedTicks = schedule.missedTicks
        self.backfillLimit = schedule.backfillLimit
        self.nextTickAt = schedule.nextTickAt
        self.lastTickAt = schedule.lastTickAt
        self.lastEnqueuedAt = schedule.lastEnqueuedAt
        self.registeredBy = schedule.registeredBy
        self.createdAt = schedule.createdAt
        self.updatedAt = schedule.updatedAt
    }
}

/// The registered schedules, by name (`ScheduleList`).
struct ScheduleListResource: Encodable {
    var schedules: [ScheduleResource]
}

/// Whether JobKit can work (`Health`).
struct HealthResource: Encodable {
    var healthy: Bool
    var databaseReachable: Bool
    var databaseLatencyMilliseconds: Double?
    var schemaVersion: Int?
    var expectedSchemaVersion: Int
    var lastMaintenance: MaintenanceRunResource?
    var workers: [WorkerResource]
    var problems: [String]

    struct MaintenanceRunResource: Encodable {
        var startedAt: Date
        var durationMilliseconds: Double
        var leader: String
        var succeeded: Bool

        enum CodingKeys: String, CodingKey {
            case startedAt = "started_at"
            case durationMilliseconds = "duration_ms"
            case leader, succeeded
        }
    }

    struct WorkerResource: Encodable {
        var id: String
        var queues: [String]
        var concurrency: Int
        var running: Int
        var startedAt: Date
        var lastSeenAt: Date

        enum CodingKeys: String, CodingKey {
            case id, queues, concurrency, running
            case startedAt = "started_at"
            case lastSeenAt = "last_seen_at"
        }
    }

    enum CodingKeys: String, CodingKey {
        case healthy
        case databaseReachable = "database_reachable"
        case databaseLatencyMilliseconds = "database_latency_ms"
        case schemaVersion = "schema_version"
        case expectedSchemaVersion = "expected_schema_version"
        case lastMaintenance = "last_maintenance"
        case workers, problems
    }

    init(_ health: JobHealth) {
        self.healthy = health.isHealthy
        self.databaseReachable = health.databaseReachable
        self.databaseLatencyMilliseconds = health.databaseLatencyMilliseconds
        self.schemaVersion = health.schemaVersion
        self.expectedSchemaVersion = health.expectedSchemaVersion
        self.lastMaintenance = health.lastMaintenance.map {
            MaintenanceRunResource(startedAt: $0.startedAt, durationMilliseconds: $0.durationMilliseconds, leader: $0.leader, succeeded: $0.succeeded)
        }
        self.workers = health.workers.map {
            WorkerResource(
                id: $0.id, queues: $0.queues, concurrency: $0.concurrency, running: $0.running, startedAt: $0.startedAt,
                lastSeenAt: $0.lastSeenAt)
        }
        self.problems = health.problems
    }
}

/// A job's validation (`Validation`).
struct ValidationResource: Encodable {
    var jobID: String
    var valid: Bool
    var issues: [Issue]

    struct Issue: Encodable {
        var code: String
        var status: JobStatus
        var fixable: Bool
    }

    enum CodingKeys: String, CodingKey {
        case jobID = "job_id"
        case valid, issues
    }

    init(id: UUID, issues: [ValidationIssue]) {
        self.jobID = AdminJSON.id(id)
        self.valid = issues.isEmpty
        self.issues = issues.map { Issue(code: $0.code, status: $0.status, fixable: $0.isFixable) }
    }
}

/// What a cleanup deleted (`CleanupResult`).
struct CleanupResource: Encodable {
    var deleted: Int
}

/// What a recovery of stuck jobs moved (`RecoveryResult`).
struct RecoveryResource: Encodable {
    var rescheduled: Int
    var failed: Int
    var cancelled: Int
    var timedOut: Int
    var total: Int

    enum CodingKeys: String, CodingKey {
        case rescheduled, failed, cancelled
        case timedOut = "timed_out"
        case total
    }

    init(_ report: RecoveryReport) {
        self.rescheduled = report.rescheduled
        self.failed = report.failed
        self.cancelled = report.cancelled
        self.timedOut = report.timedOut
        self.total = report.total
    }
}

// MARK: - Request bodies

/// The body of `POST /admin/cleanup` (`CleanupRequest`).
struct CleanupBody: Decodable {
    var olderThanSeconds: Int?
    var statuses: [String]?
    var batchSize: Int?

    enum CodingKeys: String, CodingKey {
        case olderThanSeconds = "older_than_seconds"
        case statuses
        case batchSize = "batch_size"
    }
}

/// The body of the job actions (`ActionRequest`): `reason` and `actor`, both optional in JSON;
/// the forced changes require a reason.
struct ActionBody: Decodable {
    var reason: String?
    var actor: String?
}

/// A body that may be empty or any JSON object (`POST /admin/recover-stuck`); its members are ignored.
struct EmptyBody: Decodable {
    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        // Asking for a keyed container is what refuses arrays, strings, numbers and null.
        _ = try decoder.container(keyedBy: AnyKey.self)
    }
}

/// A queue: paused or not, its fleet-wide limits, its waiting and running jobs (`Queue`).
struct QueueResource: Encodable {
    var name: String
    var paused: Bool
    var pausedAt: Date?
    var concurrencyLimit: Int?
    var keyLimit: Int?
    var rateLimit: RateLimit?
    var scheduled: Int
    var inProgress: Int

    struct RateLimit: Encodable {
        var count: Int
        var periodSeconds: Double

        enum CodingKeys: String, CodingKey {
            case count
            case periodSeconds = "period_seconds"
        }
    }

    enum CodingKeys: String, CodingKey {
        case name, paused
        case pausedAt = "paused_at"
        case concurrencyLimit = "concurrency_limit"
        case keyLimit = "key_limit"
        case rateLimit = "rate_limit"
        case scheduled
        case inProgress = "in_progress"
    }

    init(_ queue: QueueState) {
        self.name = queue.name
        self.paused = queue.isPaused
        self.pausedAt = queue.pausedAt
        self.concurrencyLimit = queue.settings.concurrencyLimit
        self.keyLimit = queue.settings.keyLimit
        self.rateLimit = queue.settings.rateLimit.map {
            RateLimit(count: $0.count, periodSeconds: Double($0.period.components.seconds) + Double($0.period.components.attoseconds) / 1e18)
        }
        self.scheduled = queue.scheduled
        self.inProgress = queue.inProgress
    }
}

/// Every queue (`QueueList`).
struct QueueListResource: Encodable {
    var queues: [QueueResource]
}
