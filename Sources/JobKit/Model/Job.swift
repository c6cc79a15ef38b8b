import Foundation
import LibPQ

/// A job as stored: its identity, status, payload, outcome and lease.
public struct Job: Sendable, Hashable, Identifiable {
    /// The job's id (a time-ordered UUIDv7).
    public var id: UUID
    /// The queue it belongs to.
    public var queue: String
    /// Its type name, such as `"ocr"`.
    public var type: String
    /// Where it is in its life.
    public var status: JobStatus
    /// Lower runs first. Defaults to 0.
    public var priority: Int
    /// The payload's JSON text.
    public var payloadJSON: String
    /// The result's JSON text, once done.
    public var resultJSON: String?
    /// The last error, once failed (and kept while it retries).
    public var errorMessage: String?
    /// How many times it has started.
    public var attempt: Int
    /// How many times it may start.
    public var maxAttempts: Int
    /// Its progress, 0–100.
    public var progress: Int
    /// The step it reported last.
    public var currentStep: String?
    /// The entity it works on.
    public var reference: JobReference?
    /// The key that makes its creation idempotent.
    public var uniqueKey: String?
    /// When it may run.
    public var runAt: Date
    /// When it was created.
    public var createdAt: Date
    /// When it last started.
    public var startedAt: Date?
    /// When it finished (done, failed or cancelled).
    public var finishedAt: Date?
    /// When the row last changed.
    public var updatedAt: Date
    /// How long one attempt may run, if limited.
    public var timeout: Duration?
    /// The lease of the worker running it, while `inProgress`.
    public var lease: JobLease?
    /// When someone asked for it to be cancelled while it ran.
    public var cancelRequestedAt: Date?
    /// The key of its queue's per-key concurrency limit, if any.
    public var concurrencyKey: String?
    /// The trace context of the code that created it, as the JSON object of key/values the
    /// tracer injected (such as W3C `traceparent`); `nil` when no tracer was active. An executor
    /// runs the job in a span that continues this trace.
    public var traceContextJSON: String?

    /// Whether the job can never change again.
    public var isTerminal: Bool { self.status.isTerminal }

    /// Decodes the payload.
    /// - Parameter type: The payload's type.
    /// - Returns: The payload.
    /// - Throws: ``JobError/Code/payloadDecoding``.
    public func payload<Payload: Decodable>(as type: Payload.Type) throws(JobError) -> Payload {
        try JobJSON.decode(type, from: self.payloadJSON, jobID: self.id)
    }

    /// Decodes the result.
    /// - Parameter type: The result's type.
    /// - Returns: The result, or `nil` when there is none yet.
    /// - Throws: ``JobError/Code/payloadDecoding``.
    public func result<Result: Decodable>(as type: Result.Type) throws(JobError) -> Result? {
        guard let resultJSON else { return nil }
        return try JobJSON.decode(type, from: resultJSON, jobID: self.id)
    }
}

/// The entity a job belongs to, such as a document or an upload.
public struct JobReference: Sendable, Hashable, Codable {
    /// The entity's kind, such as `"document"`.
    public var type: String
    /// The entity's id.
    public var id: String

    /// Creates a reference.
    /// - Parameters:
    ///   - type: The entity's kind, such as `"document"`.
    ///   - id: The entity's id.
    public init(_ type: String, _ id: String) {
        self.type = type
        self.id = id
    }

    /// Creates a reference to an entity with a UUID id.
    /// - Parameters:
    ///   - type: The entity's kind, such as `"document"`.
    ///   - id: The entity's id, stored in lower case.
    public init(_ type: String, _ id: UUID) {
        self.init(type, id.uuidString.lowercased())
    }
}

/// A worker's claim on a running job.
///
/// Completion and failure carry the token: a worker whose lease expired and whose job moved
/// on can no longer change it.
public struct JobLease: Sendable, Hashable {
    /// Who holds it (a worker identity).
    public var owner: String
    /// The proof of ownership.
    public var token: UUID
    /// When it runs out unless renewed.
    public var expiresAt: Date
}

/// How to create a job. Every field has a default, so `.init()` works.
public struct JobOptions: Sendable, Hashable {
    /// The queue. Defaults to `"default"`.
    public var queue: String
    /// Lower runs first. Defaults to 0.
    public var priority: Int
    /// When it may run. `nil` (the default) means now.
    public var runAt: Date?
    /// How many times it may start; must be at least 1. `nil` (the default) means the
    /// handler's ``RetryPolicy/maxAttempts`` for enqueued jobs, and 1 otherwise.
    public var maxAttempts: Int?
    /// How long one attempt may run. `nil` (the default) means no limit.
    public var timeout: Duration?
    /// The entity it works on. Defaults to none.
    public var reference: JobReference?
    /// A key that makes creation idempotent: no other job, in any state, may have it.
    /// Defaults to none. For keys built from the job and held only while it waits or runs, see ``unique``.
    public var uniqueKey: String?
    /// Makes an enqueued job unique among equal ones (see ``UniqueJob``). Defaults to none.
    /// Used by `enqueue` and `enqueueMany`; not together with ``uniqueKey``.
    public var unique: UniqueJob?
    /// Jobs of a queue with a key limit (``QueueSettings/keyLimit``) that share this key run at
    /// most that many at once across the fleet: a customer id, say. Defaults to none.
    public var concurrencyKey: String?

    /// Creates options.
    /// - Parameters:
    ///   - queue: The queue. Defaults to `"default"`.
    ///   - priority: Lower runs first. Defaults to 0.
    ///   - runAt: When it may run; `nil` means now.
    ///   - maxAttempts: How many times it may start; `nil` means the handler's policy, or 1.
    ///   - timeout: How long one attempt may run; `nil` means no limit.
    ///   - reference: The entity it works on.
    ///   - uniqueKey: A key that makes creation idempotent.
    ///   - unique: Uniqueness among equal enqueued jobs.
    ///   - concurrencyKey: The key of a queue's per-key concurrency limit.
    public init(
        queue: String = "default",
        priority: Int = 0,
        runAt: Date? = nil,
        maxAttempts: Int? = nil,
        timeout: Duration? = nil,
        reference: JobReference? = nil,
        uniqueKey: String? = nil,
        unique: UniqueJob? = nil,
        concurrencyKey: String? = nil
    ) {
        self.queue = queue
        self.priority = priority
        self.runAt = runAt
        self.maxAttempts = maxAttempts
        self.timeout = timeout
        self.reference = reference
        self.uniqueKey = uniqueKey
        self.unique = unique
        self.concurrencyKey = concurrencyKey
    }

    /// Checks the values before any SQL runs.
    func validate() throws(JobError) {
        guard !self.queue.isEmpty else { throw .invalidArgument("the queue name is empty") }
        if let maxAttempts, maxAttempts < 1 { throw .invalidArgument("maxAttempts must be at least 1, not \(maxAttempts)") }
        guard Int16(exactly: self.priority) != nil else { throw .invalidArgument("priority \(self.priority) is out of range") }
        if let timeout = self.timeout, timeout <= .zero { throw .invalidArgument("timeout must be positive") }
        if let unique = self.unique {
            guard self.uniqueKey == nil else { throw .invalidArgument("set either uniqueKey or unique, not both") }
            try unique.validate()
        }
    }
}

/// One entry of a job's history: a failure, a retry, a cancellation, a forced change.
public struct JobEvent: Sendable, Hashable {
    /// The entry's sequence number.
    public var id: Int
    /// The job.
    public var jobID: UUID
    /// When it happened.
    public var at: Date
    /// What happened: `failed`, `retry_scheduled`, `retried`, `cancelled`, `cancel_requested`, `force_failed`, `force_reset`, `released`.
    public var kind: String
    /// The status before.
    public var fromStatus: JobStatus?
    /// The status after.
    public var toStatus: JobStatus?
    /// The error or the reason given.
    public var message: String?
    /// Who did it, for operator actions.
    public var actor: String?
    /// The attempt it concerns.
    public var attempt: Int?
}

/// A page of ``Job``s and the cursor for the next one.
public struct JobPage: Sendable {
    /// The jobs, newest first.
    public var jobs: [Job]
    /// Pass to ``JobService/list(_:limit:after:)`` for the next page; `nil` on the last page.
    public var nextCursor: UUID?
}

/// Which jobs ``JobService/list(_:limit:after:)`` returns. Empty fields match everything.
public struct JobFilter: Sendable, Hashable {
    /// Only these statuses.
    public var statuses: [JobStatus]?
    /// Only these types.
    public var types: [String]?
    /// Only these queues.
    public var queues: [String]?
    /// Only jobs of this entity.
    public var reference: JobReference?
    /// Only jobs created at or after this time.
    public var createdAfter: Date?
    /// Only jobs created before this time.
    public var createdBefore: Date?

    /// Creates a filter.
    /// - Parameters:
    ///   - statuses: Only these statuses; `nil` for all.
    ///   - types: Only these types; `nil` for all.
    ///   - queues: Only these queues; `nil` for all.
    ///   - reference: Only jobs of this entity; `nil` for all.
    ///   - createdAfter: Only jobs created at or after this time.
    ///   - createdBefore: Only jobs created before this time.
    public init(
        statuses: [JobStatus]? = nil,
        types: [String]? = nil,
        queues: [String]? = nil,
        reference: JobReference? = nil,
        createdAfter: Date? = nil,
        createdBefore: Date? = nil
    ) {
        self.statuses = statuses
        self.types = types
        self.queues = queues
        self.reference = reference
        self.createdAfter = createdAfter
        self.createdBefore = createdBefore
    }
}

/// JSON coding of payloads and results.
enum JobJSON {
    static func encode<Value: Encodable>(_ value: Value) throws(JobError) -> String {
        do {
            return String(decoding: try PostgresJSONCoders.encoder.encode(value), as: UTF8.self)
        } catch {
            throw .payloadEncoding(type: Value.self, underlying: error)
        }
    }

    static func decode<Value: Decodable>(_ type: Value.Type, from json: String, jobID: UUID?) throws(JobError) -> Value {
        do {
            return try PostgresJSONCoders.decoder.decode(type, from: Data(json.utf8))
        } catch {
            throw .payloadDecoding(id: jobID, type: type, underlying: error)
        }
    }
}

/// A payload with no fields, for jobs that need none.
public struct EmptyPayload: Codable, Sendable, Hashable {
    /// Creates the empty payload.
    public init() {}
}
