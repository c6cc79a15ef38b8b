import JobKit
import LibPQ
import Vapor

/// Sets the app up: JobKit's database, its workers tied to the app's lifecycle, and the routes.
func configure(_ app: Application, databaseURL: String) async throws {
    let pool = PostgresConnectionPool(
        connection: PostgresConfiguration(databaseURL), configuration: .init(maximumConnections: 10), logger: app.logger)
    let jobs = JobService(pool: pool, logger: app.logger)
    let documents = DocumentStore(pool: pool)
    let stepMilliseconds = Environment.get("STEP_MILLISECONDS").flatMap(Int.init) ?? 500
    let executor = JobExecutor(
        service: jobs,
        handlers: [ProcessDocument(documents: documents, stepDuration: .milliseconds(max(0, stepMilliseconds)))],
        configuration: .init(concurrency: 4, shutdownGracePeriod: .seconds(10)),
        logger: app.logger)
    let maintenance = MaintenanceService(service: jobs, configuration: .init(interval: .seconds(30)), logger: app.logger)

    // Registered first, so that the pool is closed on shutdown even if a step below fails.
    app.lifecycle.use(JobKitLifecycle(services: [jobs, executor, maintenance], pool: pool, logger: app.logger))
    app.jobKit = JobKitStorage(pool: pool, jobs: jobs, documents: documents)

    try await jobs.migrate()
    try await documents.migrate()

    try app.register(collection: DocumentController())
    try app.register(collection: JobController())
    app.get("health") { _ in HTTPStatus.ok }
}
