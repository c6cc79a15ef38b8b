import Hummingbird
import JobKit
import Logging
import ServiceLifecycle

/// The admin HTTP API and web page of a ``JobKit/JobService``, served by Hummingbird.
///
/// It serves the JSON API under `/admin/` (described by the OpenAPI document at
/// `/admin/openapi.json`) and a small dashboard at `/admin/`. Every request but the login page
/// and the OpenAPI document needs the configured token, as `Authorization: Bearer <token>` or
/// as the session cookie the login page sets.
///
/// ```swift
/// let jobs = JobService(pool: pool)
/// let admin = try AdminServer(
///     jobs: jobs,
///     configuration: .environment(ProcessInfo.processInfo.environment, port: 8080),
///     logger: logger)
/// try await ServiceGroup(services: [jobs, admin], logger: logger).run()
/// ```
///
/// > Warning: It serves only while ``run()`` runs; cancel it or shut it down gracefully to stop.
/// > It does not run the ``JobKit/MaintenanceService`` it is given: run that beside it.
public struct AdminServer: Service {
    /// Where it listens and how it authenticates.
    public let configuration: Configuration
    private let responder: RouterResponder<AdminRequestContext>
    private let logger: Logger
    private let onServerRunning: @Sendable (_ port: Int) async -> Void

    /// Creates a server, checking its configuration.
    /// - Parameters:
    ///   - jobs: The service whose jobs it shows and changes.
    ///   - configuration: Host, port and token.
    ///   - logger: Receives Hummingbird's entries and, at `info`, requests that failed on the
    ///     server's side. Defaults to none.
    ///   - onServerRunning: Called with the bound port once the server listens (useful with port 0).
    /// - Throws: ``AdminServerError`` `.missingToken`, `.unauthenticatedNonLoopback`,
    ///   `.invalidPort`, `.invalidHost`, `.invalidSetting`.
    public init(
        jobs: JobService,
        configuration: Configuration,
        logger: Logger = JobKitLogging.noop,
        onServerRunning: @escaping @Sendable (_ port: Int) async -> Void = { _ in }
    ) throws {
        let router = try buildAdminRouter(jobs: jobs, configuration: configuration, logger: logger)
        self.configuration = configuration
        self.responder = router.buildResponder()
        self.logger = logger
        self.onServerRunning = onServerRunning
    }

    /// Serves until cancelled or gracefully shut down.
    /// - Throws: When the address cannot be bound.
    public func run() async throws {
        let host = self.configuration.host
        let application = Application(
            responder: self.responder,
            configuration: ApplicationConfiguration(address: .hostname(host, port: self.configuration.port)),
            onServerRunning: { [logger, onServerRunning, configuration] channel in
                let port = channel.localAddress?.port ?? configuration.port
                logger.debug("Admin server listening", metadata: ["jobkit.admin.host": "\(host)", "jobkit.admin.port": "\(port)"])
                await onServerRunning(port)
            },
            logger: self.logger
        )
        try await application.run()
    }
}
