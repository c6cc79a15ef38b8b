import Foundation
import JobKit

/// `--json` output: sorted keys, ISO-8601 dates, one document per command.
enum JSONOutput {
    static func print(_ value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        Swift.print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }
}

/// A ``Job`` as JSON: a lower-case id (as the text output and the admin API print it),
/// payload and result embedded as JSON, the lease without its token.
struct JobRecord: Encodable {
    struct Lease: Encodable {
        var owner: String
        var expiresAt: Date
    }

    var id: String
    var queue: String
    var type: String
    var status: JobStatus
    var priority: Int
    var payload: JSONValue?
    var result: JSONValue?
    var error: String?
    var attempt: Int
    var maxAttempts: Int
    var progress: Int
    var step: String?
    var reference: JobReference?
    var uniqueKey: String?
    var runAt: Date
    var createdAt: Date
    var startedAt: Date?
    var finishedAt: Date?
    var updatedAt: Date
    var timeoutSeconds: Double?
    var lease: Lease?
    var cancelRequestedAt: Date?

    init(_ job: Job) {
        self.id = TextOutput.id(job.id)
        self.queue = job.queue
        self.type = job.type
        self.status = job.status
        self.priority = job.priority
        self.payload = JSONValue(json: job.payloadJSON)
        self.result = job.resultJSON.flatMap(JSONValue.init(json:))
        self.error = job.errorMessage
        self.attempt = job.attempt
        self.maxAttempts = job.maxAttempts
        self.progress = job.progress
        self.step = job.currentStep
        self.reference = job.reference
        self.uniqueKey = job.uniqueKey
        self.runAt = job.runAt
        self.createdAt = job.createdAt
        self.startedAt = job.startedAt
        self.finishedAt = job.finishedAt
        self.updatedAt = job.updatedAt
        self.timeoutSeconds = job.timeout.map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 }
        self.lease = job.lease.map { Lease(owner: $0.owner, expiresAt: $0.expiresAt) }
        self.cancelRequestedAt = job.cancelRequestedAt
    }
}

/// A ``JobEvent`` as JSON.
struct EventRecord: Encodable {
    var id: Int
    var at: Date
    var kind: String
    var from: JobStatus?
    var to: JobStatus?
    var message: String?
    var actor: String?
    var attempt: Int?

    init(_ event: JobEvent) {
        self.id = event.id
        self.at = event.at
        self.kind = event.kind
        self.from = event.fromStatus
        self.to = event.toStatus
        self.message = event.message
        self.actor = event.actor
        self.attempt = event.attempt
    }
}

/// A ``ValidationIssue`` as JSON, with a lower-case job id.
struct IssueRecord: Encodable {
    var jobID: String
    var status: JobStatus
    var code: String
    var isFixable: Bool

    init(_ issue: ValidationIssue) {
        self.jobID = TextOutput.id(issue.jobID)
        self.status = issue.status
        self.code = issue.code
        self.isFixable = issue.isFixable
    }
}
