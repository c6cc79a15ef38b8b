import Foundation
import JobKit
import Vapor

/// `POST /documents`, `GET /documents/:id`: the app's own resource, whose processing is a job.
struct DocumentController: RouteCollection {
    func boot(routes: any RoutesBuilder) throws {
        let documents = routes.grouped("documents")
        documents.post(use: self.create)
        documents.get(":id", use: self.show)
    }

    /// Stores the document and enqueues its job in one transaction: both exist, or neither.
    @Sendable func create(request: Request) async throws -> Response {
        let input = try request.content.decode(NewDocument.self)
        let title = input.title.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !title.isEmpty, title.count <= 200 else { throw Abort(.badRequest, reason: "title must have 1 to 200 characters") }
        let jobKit = request.jobKit
        let (documentID, jobID) = try await jobKit.pool.withTransaction { connection in
            let documentID = try await jobKit.documents.insert(title: title, body: input.body, on: connection)
            let jobID = try await jobKit.jobs.enqueue(
                ProcessDocument.self, .init(documentID: documentID),
                options: JobOptions(reference: JobReference("document", documentID)),
                on: connection)
            return (documentID, jobID)
        }
        request.logger.info("Document stored, its job enqueued", metadata: ["example.document.id": "\(documentID)", "jobkit.job.id": "\(jobID)"])
        let job = jobID.uuidString.lowercased()
        let created = DocumentCreated(documentID: documentID.uuidString.lowercased(), jobID: job, statusURL: "/jobs/\(job)")
        let response = try await created.encodeResponse(status: .accepted, for: request)
        response.headers.replaceOrAdd(name: .location, value: "/jobs/\(job)")
        return response
    }

    /// The document, its word count once processed, and its jobs.
    @Sendable func show(request: Request) async throws -> DocumentResource {
        guard let id = request.parameters.get("id", as: UUID.self) else { throw Abort(.badRequest, reason: "the id is not a UUID") }
        let jobKit = request.jobKit
        guard let document = try await jobKit.documents.document(id) else { throw Abort(.notFound, reason: "no document \(id)") }
        let jobs = try await jobKit.jobs.list(JobFilter(reference: JobReference("document", id)), limit: 10).jobs
        return DocumentResource(
            id: id.uuidString.lowercased(), title: document.title, wordCount: document.wordCount,
            createdAt: document.createdAt, processedAt: document.processedAt, jobs: jobs.map(JobResource.init))
    }
}

/// `GET /jobs/:id`: any job's status and progress, for clients that poll.
struct JobController: RouteCollection {
    func boot(routes: any RoutesBuilder) throws {
        routes.grouped("jobs").get(":id", use: self.show)
    }

    @Sendable func show(request: Request) async throws -> JobResource {
        guard let id = request.parameters.get("id", as: UUID.self) else { throw Abort(.badRequest, reason: "the id is not a UUID") }
        do {
            return JobResource(try await request.jobKit.jobs.job(id))
        } catch let error as JobError where error.code == .notFound {
            throw Abort(.notFound, reason: "no job \(id)")
        }
    }
}
