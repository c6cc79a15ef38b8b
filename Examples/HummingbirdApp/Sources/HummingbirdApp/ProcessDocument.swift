import Foundation
import JobKit

/// The job a new document gets: counts its words, a step at a time, and saves the count.
///
/// Any app process that runs a `JobExecutor` with this handler may claim the job; a failure is
/// retried with backoff up to three attempts in all.
struct ProcessDocument: JobHandler {
    struct Payload: Codable, Sendable {
        var documentID: UUID
    }

    struct Output: Codable, Sendable {
        var words: Int
    }

    static let type = "process-document"
    static let retryPolicy = RetryPolicy(maxAttempts: 3, initialDelay: .seconds(2))
    static let timeout: Duration? = .seconds(120)

    let documents: DocumentStore
    /// How long each step pretends to work, so that a client polling the job sees its progress.
    let stepDuration: Duration

    func run(_ payload: Payload, context: JobContext) async throws -> Output {
        guard let document = try await self.documents.document(payload.documentID) else {
            throw MissingDocument(id: payload.documentID)
        }
        try await context.progress(10, step: "loaded")
        try await Task.sleep(for: self.stepDuration)

        let words = document.body.split(whereSeparator: { $0.isWhitespace || $0.isPunctuation }).count
        try await context.progress(50, step: "counted words")
        try await Task.sleep(for: self.stepDuration)

        try await self.documents.markProcessed(document.id, wordCount: words)
        try await context.progress(100, step: "saved")
        context.logger.info("Document processed", metadata: ["example.document.id": "\(document.id)", "example.words": "\(words)"])
        return Output(words: words)
    }
}

/// The job's document is gone (it cannot be, as both are written in one transaction, unless
/// someone deleted the row since).
struct MissingDocument: Error, CustomStringConvertible {
    var id: UUID
    var description: String { "document \(self.id) does not exist" }
}
