import Hummingbird
import JobKit
import Logging

extension Router {
    /// Mounts JobKit's admin API and web page under `/admin` of this app's router, so that an
    /// app serves them on its own port beside its own routes.
    ///
    /// The app's router may use any request context: each request to `/admin` or below is
    /// answered by the admin router of ``buildAdminRouter(jobs:configuration:logger:)``
    /// (its own authentication, errors and 64 KiB body limit), and the app's middleware added
    /// before this call runs first. The admin pages link to absolute `/admin/…` paths, so the
    /// routes go on the root router, not on a group.
    ///
    /// ```swift
    /// let router = Router()
    /// router.get("/health") { _, _ in "ok" }
    /// try router.addJobKitAdmin(jobs: jobs, configuration: .init(token: token), logger: logger)
    /// let app = Application(router: router, services: [jobs, executor, maintenance])
    /// try await app.runService()
    /// ```
    /// - Parameters:
    ///   - jobs: The service whose jobs it shows and changes.
    ///   - configuration: The token and page settings; its host and port are not used (the app's
    ///     server listens).
    ///   - logger: Receives, at `info`, admin requests that failed on the server's side. Defaults to none.
    /// - Returns: The router, with `GET`, `POST`, `PUT`, `PATCH` and `DELETE` routes at `/admin`
    ///   and `/admin/**`.
    /// - Throws: ``AdminServerError`` `.missingToken`, `.unauthenticatedNonLoopback`,
    ///   `.invalidPort`, `.invalidHost`, `.invalidSetting`, as ``AdminServer`` does.
    @discardableResult
    public func addJobKitAdmin(
        jobs: JobService,
        configuration: AdminServer.Configuration,
        logger: Logger = JobKitLogging.noop
    ) throws -> Self {
        let responder = try buildAdminRouter(jobs: jobs, configuration: configuration, logger: logger)
            .buildResponder()
        let forward: @Sendable (Request, Context) async throws -> Response = { request, context in
            try await responder.respond(to: request, context: AdminRequestContext(forwardedWith: context.logger))
        }
        for method in [HTTPRequest.Method.get, .post, .put, .patch, .delete] {
            self.on("admin", method: method, use: forward)
            self.on("admin/**", method: method, use: forward)
        }
        return self
    }
}
