import Foundation
import Vapor
import JobKit

/// `POST /documents`'s body.
struct NewDocument: Content {
    var title: String
    var body: String
}

/// `POST /documents`'s answer: where the document and its job are.
struct DocumentCreated: Content {
    var documentID: String
    var jobID: String
    var statusURL: String

    enum CodingKeys: String, CodingKey {
        case documentID = "document_id"
        case jobID = "job_id"
        case statusURL = "status_url"
    }
}

/// `GET /documents/{id}`'s answer.
struct DocumentResource: Content {
    var id: String
    var title: String
    var wordCount: Int?
    var createdAt: Date
    var processedAt: Date?
    /// The document's jobs, newest first.
    var jobs: [JobResource]

    enum CodingKeys: String, CodingKey {
        case id, title, jobs
        case wordCount = "word_count"
        case createdAt = "created_at"
        case processedAt = "processed_at"
    }
}

/// `GET /jobs/{id}`'s answer: a job's status and progress as the app shows them to its clients.
struct JobResource: Content {
    var id: String
    var type: String
    var status: String
    var progress: Int
    var step: String?
    var attempt: Int
    var maxAttempts: Int
    var error: String?
    var result: ProcessDocument.Output?

    enum CodingKeys: String, CodingKey {
        case id, type, status, progress, step, attempt, error, result
        case maxAttempts = "max_attempts"
    }

    init(_ job: Job) {
        self.id = job.id.uuidString.lowercased()
        self.type = job.type
        self.status = job.status.rawValue
        self.progress = job.progress
        self.step = job.currentStep
        self.attempt = job.attempt
        self.maxAttempts = job.maxAttempts
        self.error = job.errorMessage
        self.result = job.type == ProcessDocument.type ? try? job.result(as: ProcessDocument.Output.self) : nil
    }
}
