import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JobKit
import JobKitAdmin
import LibPQ
import Testing

/// The admin API and page mounted into an app's own router with `addJobKitAdmin`.
@Suite(.timeLimit(.minutes(3)))
struct MountedAdminTests {
    /// Marks every answer of the app's router, to show the app's middleware runs first.
    struct AppMarkerMiddleware<Context: RequestContext>: RouterMiddleware {
        func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
            var response = try await next(request, context)
            response.headers[HTTPField.Name("X-App")!] = "example"
            return response
        }
    }

    /// An app's router with a route of its own and the admin mounted, as an app writes it.
    func appRouter(_ jobs: JobService) throws -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: AppMarkerMiddleware())
        router.get("hello") { _, _ in "hello" }
        try router.addJobKitAdmin(jobs: jobs, configuration: .init(token: adminToken))
        return router
    }

    @Test func mountedAdminServesTheAPIAndPageUnderAdminBesideTheAppsRoutes() async throws {
        try await withAdminDatabase("mounted") { fixture in
            let failed = try await fixture.job(in: .failed)
            let scheduled = try await fixture.job(in: .scheduled)
            let application = Application(router: try self.appRouter(fixture.jobs))
            try await application.test(.router) { client in
                let hello = try await client.call(.get, "/hello", .none)
                #expect(hello.status == .ok)
                #expect(hello.text == "hello")

                let refused = try await client.call(.get, "/admin/stats", .none)
                #expect(refused.status == .unauthorized)
                #expect(try refused.errorCode() == "unauthorized")
                #expect(refused.headers[HTTPField.Name("X-App")!] == "example", "the app's middleware ran first")

                let stats = try await client.call(.get, "/admin/stats")
                #expect(stats.status == .ok, "\(stats.text)")
                #expect(try stats.json()["total"] as? Int == 2)

                let detail = try await client.call(.get, "/admin/jobs/\(apiID(failed.id))")
                #expect(detail.status == .ok)
                #expect(detail.text.contains(apiID(failed.id)))

                let cancel = try await client.call(.post, "/admin/jobs/\(apiID(scheduled.id))/cancel", body: #"{"reason": "mounted"}"#)
                #expect(cancel.status == .ok, "\(cancel.text)")
                #expect(try await fixture.jobs.job(scheduled.id).status == .cancelled)

                #expect(try await client.call(.get, "/admin/openapi.json", .none).status == .ok)

                let page = try await client.call(.get, "/admin/", .none)
                #expect(page.status == .seeOther)
                #expect(page.headers[.location]?.hasPrefix("/admin/login") == true)
                let session = try await client.login()
                let dashboard = try await client.call(.get, "/admin/", .cookie(session))
                #expect(dashboard.status == .ok)
                #expect(dashboard.headers[.contentType]?.hasPrefix("text/html") == true)

                #expect(try await client.call(.get, "/elsewhere", .none).status == .notFound)
            }
        }
    }

    @Test func mountingRefusesAConfigurationTheServerRefuses() {
        let jobs = JobService(pool: PostgresConnectionPoolStub.make())
        #expect(throws: AdminServerError.missingToken()) {
            try Router().addJobKitAdmin(jobs: jobs, configuration: .init())
        }
        let error = #expect(throws: AdminServerError.self) {
            try Router().addJobKitAdmin(jobs: jobs, configuration: .init(host: "0.0.0.0", allowsUnauthenticatedLoopback: true))
        }
        #expect(error?.code == .unauthenticatedNonLoopback)
    }
}
