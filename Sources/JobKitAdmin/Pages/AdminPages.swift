import Foundation
import HTTPTypes
import Hummingbird
import JobKit
import Logging
import Mustache

/// The web page: a dashboard, a job list with filters, a job page with its history and
/// buttons (which call the JSON API), and the login form.
///
/// Pages are rendered on the server from ``AdminTemplates``; the only script reloads the page
/// every few seconds and sends the buttons' requests.
struct AdminPages: Sendable {
    let jobs: JobService
    let authenticator: AdminAuthenticator
    let refreshSeconds: Int
    let sessionLifetime: Duration

    /// The login form and logout: reachable without a session.
    func addPublicRoutes(to admin: RouterGroup<AdminRequestContext>) {
        admin.get("login") { request, _ in try self.loginPage(request) }
        admin.post("login") { request, context in try await self.login(request, context) }
        admin.post("logout") { request, _ in self.logout(request) }
    }

    /// The pages: behind the login.
    func addRoutes(to pages: RouterGroup<AdminRequestContext>) {
        pages.get("") { _, _ in try await self.dashboard() }
        pages.get("ui/jobs") { request, _ in try await self.jobList(request) }
        pages.get("ui/jobs/{id}") { _, context in try await self.jobPage(context) }
    }

    // MARK: - Pages

    func dashboard() async throws -> Response {
        async let stats = self.jobs.stats()
        async let health = self.jobs.health()
        async let recent = self.jobs.list(limit: 15)
        async let running = self.jobs.list(JobFilter(statuses: [.inProgress]), limit: 200)
        let now = Date()
        let (currentStats, currentHealth, recentPage, runningPage) = try await (stats, health, recent, running)
        let statusNames = JobStatus.allCases.map(\.rawValue)
        let view = DashboardView(
            healthy: currentHealth.isHealthy,
            problems: currentHealth.problems,
            statusCards: JobStatus.allCases.map { status in
                StatusCardView(
                    status: status.rawValue, label: PageFormat.label(status), count: currentStats.byStatus[status.rawValue] ?? 0,
                    link: "/admin/ui/jobs?status=\(status.rawValue)")
            },
            total: currentStats.total,
            stuck: currentStats.stuck,
            hasStuck: currentStats.stuck > 0,
            leased: currentStats.leased,
            finishedLastMinute: currentStats.finishedLastMinute,
            windowText: PageFormat.seconds(currentStats.windowSeconds),
            averageRun: PageFormat.seconds(currentStats.averageProcessingSeconds),
            p95Run: PageFormat.seconds(currentStats.p95ProcessingSeconds),
            oldestScheduled: PageFormat.time(currentStats.oldestScheduledAt),
            workerCount: currentHealth.workers.count,
            statusNames: statusNames.map { $0.replacingOccurrences(of: "_", with: " ") },
            queues: currentStats.byQueue.keys.sorted().map { queue in
                let counts = statusNames.map { currentStats.byQueue[queue]?[$0] ?? 0 }
                return QueueRowView(
                    name: queue, link: "/admin/ui/jobs?queue=\(QueryParameters.encode(queue))", counts: counts,
                    queueTotal: counts.reduce(0, +))
            },
            stuckTable: JobTableView(
                tableID: "stuck-jobs",
                rows: runningPage.jobs.filter { job in job.lease.map { $0.expiresAt < now } ?? true }.map { JobRowView($0, now: now) },
                emptyText: "No stuck jobs."),
            recentTable: JobTableView(tableID: "recent-jobs", rows: recentPage.jobs.map { JobRowView($0, now: now) }, emptyText: "No jobs yet.")
        )
        var page = self.page("Dashboard", view)
        page.navDashboard = true
        return try self.render(page, template: "dashboard")
    }

    func jobList(_ request: Request) async throws -> Response {
        let query = try JobListQuery(QueryParameters(request.uri.query))
        let result = try await self.jobs.list(query.filter, limit: query.limit, after: query.cursor)
        let now = Date()
        var nextLink = ""
        if let cursor = result.nextCursor {
            let items = query.filterQuery + [("limit", "\(query.limit)"), ("after", AdminJSON.id(cursor))]
            nextLink = "/admin/ui/jobs?" + items.map { "\($0.0)=\(QueryParameters.encode($0.1))" }.joined(separator: "&")
        }
        let statuses = query.filter.statuses ?? []
        let view = JobListView(
            statusOptions: JobStatus.allCases.map { StatusOptionView(value: $0.rawValue, selected: statuses.count == 1 && statuses[0] == $0) },
            filterType: query.filter.types?.first ?? "",
            filterQueue: query.filter.queues?.first ?? "",
            filterReferenceType: query.filter.reference?.type ?? "",
            filterReferenceID: query.filter.reference?.id ?? "",
            filterCreatedAfter: query.filter.createdAfter.map(AdminJSON.timestamp) ?? "",
            filterCreatedBefore: query.filter.createdBefore.map(AdminJSON.timestamp) ?? "",
            limit: query.limit,
            table: JobTableView(tableID: "job-list", rows: result.jobs.map { JobRowView($0, now: now) }, emptyText: "No job matches."),
            hasNextPage: result.nextCursor != nil,
            nextPageLink: nextLink
        )
        var page = self.page("Jobs", view)
        page.navJobs = true
        return try self.render(page, template: "jobs")
    }

    func jobPage(_ context: AdminRequestContext) async throws -> Response {
        let id = try AdminInput.jobID(context.parameters.get("id"))
        let job = try await self.jobs.job(id)
        let history = try await self.jobs.history(of: id)
        var page = self.page("Job \(job.type)", JobPageView(detail: JobDetailView(job), events: history.map(EventView.init)))
        page.navJobs = true
        return try self.render(page, template: "job")
    }

    // MARK: - Login

    /// The login form; with `?token=`, a one-step login that sets the cookie and redirects
    /// (for scripted browsers, which cannot fill a form or set a header).
    func loginPage(_ request: Request) throws -> Response {
        let query = try QueryParameters(request.uri.query)
        let next = Self.safeNext(try query.single("next"))
        if let token = try query.single("token") {
            return self.loginResult(token: token, next: next)
        }
        guard self.authenticator.isRequired else { return Self.redirect(to: next) }
        let form = LoginView(failed: false, next: next, sessionText: self.sessionText)
        return try self.render(self.page("Log in", form, refreshes: false, signedIn: false), template: "login")
    }

    func login(_ request: Request, _ context: AdminRequestContext) async throws -> Response {
        let form = try await AdminBody.form(from: request, context: context)
        return self.loginResult(token: try form.single("token") ?? "", next: Self.safeNext(try form.single("next")))
    }

    private func loginResult(token: String, next: String) -> Response {
        guard self.authenticator.isRequired else { return Self.redirect(to: next) }
        guard self.authenticator.matchesToken(token) else {
            let page = self.page("Log in", LoginView(failed: true, next: next, sessionText: self.sessionText), refreshes: false, signedIn: false)
            var response = (try? self.render(page, template: "login")) ?? Response(status: .unauthorized)
            response.status = .unauthorized
            return response
        }
        var response = Self.redirect(to: next)
        response.setCookie(self.authenticator.sessionCookie(self.authenticator.openSession()))
        return response
    }

    func logout(_ request: Request) -> Response {
        if let cookie = request.cookies[AdminAuthenticator.cookieName] {
            self.authenticator.closeSession(cookie.value)
        }
        var response = Self.redirect(to: "/admin/login")
        response.setCookie(AdminAuthenticator.expiredCookie)
        return response
    }

    private var sessionText: String {
        let hours = Double(self.sessionLifetime.components.seconds) / 3600
        return hours >= 1 ? String(format: "%.0f hours", hours) : "\(self.sessionLifetime.components.seconds / 60) minutes"
    }

    /// `next` if it is a path of the admin server, else the dashboard: the login never
    /// redirects elsewhere.
    static func safeNext(_ next: String?) -> String {
        guard let next, next.hasPrefix("/admin"), !next.hasPrefix("//"), !next.contains("\\"),
            !next.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
        else { return "/admin/" }
        return next
    }

    // MARK: - Errors

    /// An error as an HTML page with the API's status and code.
    func errorPage(_ error: AdminAPIError) -> Response {
        let heading: String =
            switch error.status.code {
            case 400: "Bad request"
            case 404: "Not found"
            case 409: "Conflict"
            case 422: "Invalid value"
            case 503: "Unavailable"
            default: "Error"
            }
        let page = self.page(heading, ErrorView(heading: heading, code: error.code, message: error.message), refreshes: false)
        var response = (try? self.render(page, template: "error")) ?? Response(status: error.status)
        response.status = error.status
        return response
    }

    // MARK: - Rendering

    private func page(_ title: String, _ content: Any, refreshes: Bool = true, signedIn: Bool = true) -> PageView {
        PageView(
            title: title, nonce: Self.nonce(), refreshSeconds: refreshes ? self.refreshSeconds : 0,
            showNav: signedIn, showLogout: signedIn && self.authenticator.isRequired, content: content)
    }

    private func render(_ page: PageView, template: String) throws -> Response {
        guard let html = AdminTemplates.library.render(page, withTemplate: template) else {
            throw AdminAPIError.internalError()
        }
        let policy = [
            "default-src 'none'", "script-src 'nonce-\(page.nonce)'", "style-src 'nonce-\(page.nonce)'", "connect-src 'self'",
            "img-src 'self' data:", "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'",
        ].joined(separator: "; ")
        var headers = Self.securityHeaders
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.contentSecurityPolicy] = policy
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    static func redirect(to location: String) -> Response {
        var headers = Self.securityHeaders
        headers[.location] = location
        return Response(status: .seeOther, headers: headers)
    }

    private static let securityHeaders: HTTPFields = [
        .cacheControl: "no-store",
        .constant("X-Content-Type-Options"): "nosniff",
        .constant("X-Frame-Options"): "DENY",
        .constant("Referrer-Policy"): "no-referrer",
    ]

    /// 16 random bytes, base64: a fresh CSP nonce for each page.
    private static func nonce() -> String {
        var generator = SystemRandomNumberGenerator()
        return Data((0..<16).map { _ in UInt8.random(in: .min ... .max, using: &generator) }).base64EncodedString()
    }
}

/// Renders the errors of the pages as HTML pages (the API's are JSON).
struct AdminPageErrorMiddleware: RouterMiddleware {
    typealias Context = AdminRequestContext

    let pages: AdminPages
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            return self.pages.errorPage(AdminAPIError(error, logger: self.logger))
        }
    }
}
