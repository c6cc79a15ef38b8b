import ArgumentParser
import Foundation
import Hummingbird
import JobKit
import JobKitAdmin
import LibPQ
import Logging

/// The app's settings, from the command line.
protocol AppArguments: Sendable {
    var hostname: String { get }
    var port: Int { get }
    var concurrency: Int { get }
    var stepMilliseconds: Int { get }
}

@main
struct App: AsyncParsableCommand, AppArguments {
    static let configuration = CommandConfiguration(
        commandName: "HummingbirdApp",
        abstract: "A Hummingbird app whose documents are processed by JobKit workers in the same process.",
        discussion: """
            Uses DATABASE_URL when set, else a private PostgreSQL cluster. The admin page's token is \
            JOBKIT_ADMIN_TOKEN, else one made up and printed at start. Log entries go to standard error \
            (LOG_LEVEL, default info). SIGINT or SIGTERM stop it gracefully.
            """)

    @Option(help: "The address to bind.")
    var hostname = "127.0.0.1"

    @Option(help: "The TCP port; 0 for any free port (the address is printed once it listens).")
    var port = 8080

    @Option(help: "The most jobs this process runs at once.")
    var concurrency = 4

    @Option(help: "How long each step of a document's job takes, in milliseconds.")
    var stepMilliseconds = 500

    func validate() throws {
        guard (0...65535).contains(self.port) else { throw ValidationError("--port must be within 0...65535.") }
        guard self.concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1.") }
        guard self.stepMilliseconds >= 0 else { throw ValidationError("--step-milliseconds must not be negative.") }
    }

    func run() async throws {
        let level = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "example.hummingbird")
        try await ExampleDatabase.with(logger: logger) { database in
            let pool = PostgresConnectionPool(
                connection: PostgresConfiguration(database.url), configuration: .init(maximumConnections: 10), logger: logger)
            do {
                let app = try await buildApplication(self, pool: pool, environment: ProcessInfo.processInfo.environment, logger: logger)
                // The router, the JobService, the executor and maintenance run in one ServiceGroup;
                // on SIGTERM the server stops first, then the executor drains its jobs.
                try await app.runService()
                await pool.close()
            } catch {
                await pool.close()
                throw error
            }
        }
        Console.line("Stopped.")
    }
}

/// Builds the app: its routes, JobKit's services, and the admin API and page under `/admin`.
func buildApplication(
    _ arguments: some AppArguments,
    pool: PostgresConnectionPool,
    environment: [String: String],
    logger: Logger
) async throws -> some ApplicationProtocol {
    let jobs = JobService(pool: pool, logger: logger)
    try await jobs.migrate()
    let documents = DocumentStore(pool: pool)
    try await documents.migrate()

    let executor = JobExecutor(
        service: jobs,
        handlers: [ProcessDocument(documents: documents, stepDuration: .milliseconds(arguments.stepMilliseconds))],
        configuration: .init(concurrency: arguments.concurrency, shutdownGracePeriod: .seconds(10)),
        logger: logger)
    let maintenance = MaintenanceService(service: jobs, configuration: .init(interval: .seconds(30)), logger: logger)

    var adminConfiguration = AdminServer.Configuration.environment(environment)
    let token = adminConfiguration.token ?? UUID().uuidString.lowercased()
    adminConfiguration.token = token

    let router = Router()
    router.add(middleware: LogRequestsMiddleware(.info))
    router.get("health") { _, _ in HTTPResponse.Status.ok }
    DocumentController(pool: pool, jobs: jobs, documents: documents).addRoutes(to: router.group("documents"))
    JobController(jobs: jobs).addRoutes(to: router.group("jobs"))
    try router.addJobKitAdmin(jobs: jobs, configuration: adminConfiguration, logger: logger)

    let tokenSource = environment[AdminServer.Configuration.tokenVariable] == nil ? "made up for this run: \(token)" : "JOBKIT_ADMIN_TOKEN"
    var app = Application(
        router: router,
        configuration: .init(address: .hostname(arguments.hostname, port: arguments.port), serverName: "HummingbirdApp"),
        onServerRunning: { channel in
            let address = "http://\(arguments.hostname):\(channel.localAddress?.port ?? arguments.port)"
            Console.line("Listening on \(address)")
            Console.line("  POST \(address)/documents   {\"title\": …, \"body\": …}")
            Console.line("  GET  \(address)/jobs/{id}")
            Console.line("  Admin page \(address)/admin/ (token \(tokenSource))")
        },
        logger: logger)
    app.addServices(jobs, executor, maintenance)
    return app
}
