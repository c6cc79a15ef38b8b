// The code of Documentation/Embedding.md (see GettingStartedSamples.swift for how it is checked).
import Foundation
import Hummingbird
import JobKit
import JobKitAdmin
import LibPQ
import Logging
import ServiceLifecycle

enum EmbeddingSamples {
    // MARK: One ServiceGroup

    static func adminConfiguration() -> AdminServer.Configuration {
        let adminConfiguration = AdminServer.Configuration.environment(ProcessInfo.processInfo.environment, host: "0.0.0.0", port: 8081)
        return adminConfiguration
    }

    static func runEverything(pool: PostgresConnectionPool, adminConfiguration: AdminServer.Configuration, logger: Logger) async throws {
        let jobs = JobService(pool: pool, logger: logger)
        try await jobs.migrate()
        let executor = JobExecutor(service: jobs, handlers: [Thumbnail(), ProcessDocument()], logger: logger)
        let maintenance = MaintenanceService(service: jobs, logger: logger)
        let admin = try AdminServer(jobs: jobs, configuration: adminConfiguration, logger: logger)

        // On SIGTERM or SIGINT the group shuts its services down one by one, last first: the admin
        // server, maintenance, then the executor (which drains its running jobs), then the service.
        let group = ServiceGroup(
            services: [jobs, executor, maintenance, admin],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        try await group.run()
        await pool.close()
    }

    // MARK: Hummingbird

    struct DocumentUpload: Decodable {
        var name: String
    }

    struct Accepted: ResponseEncodable {
        var documentID: UUID
        var jobID: UUID
    }

    struct JobState: ResponseEncodable {
        var status: JobStatus
        var progress: Int
        var step: String?
    }

    static func makeRouter(jobs: JobService) -> Router<BasicRequestContext> {
        let router = Router()
        router.post("documents") { request, context -> Accepted in
            let upload = try await request.decode(as: DocumentUpload.self, context: context)
            let documentID = UUID()
            // The document and its job commit together, or neither does.
            let jobID = try await jobs.pool.withTransaction { connection in
                try await connection.query("INSERT INTO documents (id, name) VALUES (\(documentID), \(upload.name))")
                return try await jobs.enqueue(ProcessDocument.self, .init(documentID: documentID), on: connection)
            }
            return Accepted(documentID: documentID, jobID: jobID)
        }
        router.get("jobs/{id}") { _, context -> JobState in
            guard let text = context.parameters.get("id"), let id = UUID(uuidString: text) else {
                throw HTTPError(.badRequest)
            }
            let job = try await jobs.job(id)  // an unknown id throws JobError.notFound: a 404 with JobKitAdmin linked
            return JobState(status: job.status, progress: job.progress, step: job.currentStep)
        }
        return router
    }

    static func runApp(router: Router<BasicRequestContext>, jobs: JobService, logger: Logger) async throws {
        let executor = JobExecutor(service: jobs, handlers: [ProcessDocument()], logger: logger)
        let maintenance = MaintenanceService(service: jobs, logger: logger)
        var app = Application(router: router, configuration: .init(address: .hostname("0.0.0.0", port: 8080)), logger: logger)
        app.addServices(jobs, executor, maintenance)
        try await app.runService()
    }
}
