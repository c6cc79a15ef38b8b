import Foundation
import Hummingbird
import JobKit
import LibPQ

/// `POST /documents`, `GET /documents/{id}`: the app's own resource, whose processing is a job.
struct DocumentController<Context: RequestContext>: Sendable {
    let pool: PostgresConnectionPool
    let jobs: JobService
    let documents: DocumentStore

    func addRoutes(to group: RouterGroup<Context>) {
        group.post(use: self.create)
        group.get("{id}", use: self.show)
    }

    /// Stores the document and enqueues its job in one transaction: both exist, or neither.
    @Sendable func create(_ request: Request, context: Context) async throws -> EditedResponse<DocumentCreated> {
        let input = try await request.decode(as: NewDocument.self, context: context)
        let title = input.title.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !title.isEmpty, title.count <= 200 else { throw HTTPError(.badRequest, message: "title must have 1 to 200 characters") }
        let (documentID, jobID) = try await self.pool.withTransaction { connection in
            let documentID = try await self.documents.insert(title: title, body: input.body, on: connection)
            let jobID = try await self.jobs.enqueue(
                ProcessDocument.self, .init(documentID: documentID),
                options: JobOptions(reference: JobReference("document", documentID)),
                on: connection)
            return (documentID, jobID)
        }
        context.logger.info("Document stored, its job enqueued", metadata: ["example.document.id": "\(documentID)", "jobkit.job.id": "\(jobID)"])
        let job = jobID.uuidString.lowercased()
        return EditedResponse(
            status: .accepted,
            headers: [.location: "/jobs/\(job)"],
            response: DocumentCreated(documentID: documentID.uuidString.lowercased(), jobID: job, statusURL: "/jobs/\(job)"))
    }

    /// The document, its word count once processed, and its jobs.
    @Sendable func show(_ request: Request, context: Context) async throws -> DocumentResource {
        let id = try context.parameters.require("id", as: UUID.self)
        guard let document = try await self.documents.document(id) else { throw HTTPError(.notFound, message: "no document \(id)") }
        let jobs = try await self.jobs.list(JobFilter(reference: JobReference("document", id)), limit: 10).jobs
        return DocumentResource(
            id: id.uuidString.lowercased(), title: document.title, wordCount: document.wordCount,
            createdAt: document.createdAt, processedAt: document.processedAt, jobs: jobs.map(JobResource.init))
    }
}

/// `GET /jobs/{id}`: any job's status and progress, for clients that poll.
struct JobController<Context: RequestContext>: Sendable {
    let jobs: JobService

    func addRoutes(to group: RouterGroup<Context>) {
        group.get("{id}", use: self.show)
    }

    @Sendable func show(_ request: Request, context: Context) async throws -> JobResource {
        let id = try context.parameters.require("id", as: UUID.self)
        do {
            return JobResource(try await self.jobs.job(id))
        } catch let error as JobError where error.code == .notFound {
            throw HTTPError(.notFound, message: "no job \(id)")
        }
    }
}
