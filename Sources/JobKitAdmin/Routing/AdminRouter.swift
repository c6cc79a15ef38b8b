import Hummingbird
import JobKit
import Logging

/// Builds the admin server's router: the JSON API, the OpenAPI document and the web page.
///
/// ``AdminServer`` serves this router; tests can drive it without a socket through
/// HummingbirdTesting's `.router` client:
/// ```swift
/// let router = try buildAdminRouter(jobs: jobs, configuration: .init(token: "secret"))
/// try await Application(router: router).test(.router) { client in
///     try await client.execute(uri: "/admin/stats", method: .get, headers: [.authorization: "Bearer secret"]) { response in
///         #expect(response.status == .ok)
///     }
/// }
/// ```
/// - Parameters:
///   - jobs: The service whose jobs it shows and changes.
///   - configuration: The token and page settings (host and port are the server's concern).
///   - logger: Receives, at `info`, requests that failed on the server's side. Defaults to none.
/// - Returns: The router.
/// - Throws: ``AdminServerError`` `.missingToken`, `.unauthenticatedNonLoopback`, `.invalidPort`,
///   `.invalidHost`, `.invalidSetting`.
public func buildAdminRouter(
    jobs: JobService,
    configuration: AdminServer.Configuration,
    logger: Logger = JobKitLogging.noop
) throws -> Router<AdminRequestContext> {
    let token = try configuration.validatedToken()
    let authenticator = AdminAuthenticator(token: token, sessionLifetime: configuration.sessionLifetime)
    let refresh = configuration.pageRefreshInterval.components.seconds
    let pages = AdminPages(
        jobs: jobs, authenticator: authenticator, refreshSeconds: refresh > 0 ? Int(refresh) : 0,
        sessionLifetime: configuration.sessionLifetime)
    let api = AdminAPI(jobs: jobs)

    let router = Router(context: AdminRequestContext.self)
    router.add(middleware: AdminErrorMiddleware(logger: logger))
    router.get(RouterPath(AdminOpenAPI.path)) { _, _ in AdminOpenAPI.response() }
    pages.addPublicRoutes(to: router.group("admin"))
    api.addRoutes(to: router.group("admin").add(middleware: AdminAuthMiddleware(authenticator: authenticator, refusal: .unauthorized)))
    pages.addRoutes(
        to: router.group("admin")
            .add(middleware: AdminPageErrorMiddleware(pages: pages, logger: logger))
            .add(middleware: AdminAuthMiddleware(authenticator: authenticator, refusal: .redirectToLogin))
    )
    return router
}
