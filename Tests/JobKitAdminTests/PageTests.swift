import Foundation
import HTTPTypes
import HummingbirdTesting
import JobKit
@testable import JobKitAdmin
import Testing

@Suite(.timeLimit(.minutes(3)))
struct PageTests {
    // MARK: - Login

    @Test func pageWithoutSessionRedirectsToLogin() async throws {
        try await withAdminFixture("page_redirect") { _, client in
            let response = try await client.call(.get, "/admin/ui/jobs?status=failed", .none)
            #expect(response.status == .seeOther)
            #expect(response.headers[.location] == "/admin/login?next=/admin/ui/jobs%3Fstatus%3Dfailed")
            let form = try await client.call(.get, "/admin/login", .none)
            #expect(form.status == .ok)
            #expect(form.text.contains(#"name="token""#))
            #expect(form.headers[.contentType]?.hasPrefix("text/html") == true)
            #expect(!form.text.contains("Log out"), "the login page shows no logout")
        }
    }

    @Test func loginSetsAStrictHttpOnlyCookieThatTheAPIAccepts() async throws {
        try await withAdminFixture("page_login") { _, client in
            let response = try await client.call(
                .post, "/admin/login", .none, body: "token=\(adminToken)&next=%2Fadmin%2Fui%2Fjobs",
                headers: [.contentType: "application/x-www-form-urlencoded"])
            #expect(response.status == .seeOther)
            #expect(response.headers[.location] == "/admin/ui/jobs")
            let cookie = try #require(response.headers[.setCookie])
            #expect(cookie.contains("HttpOnly"))
            #expect(cookie.contains("SameSite=Strict"))
            #expect(cookie.contains("Path=/admin"))
            #expect(!cookie.contains(adminToken), "the cookie carries a session id, not the token")
            let session = try await client.login()
            #expect(try await client.call(.get, "/admin/stats", .cookie(session)).status == .ok)
            let page = try await client.call(.get, "/admin/", .cookie(session))
            #expect(page.status == .ok)
            #expect(page.text.contains("Dashboard"))
        }
    }

    @Test func wrongTokenAtLoginSetsNoCookie() async throws {
        try await withAdminFixture("page_wrong") { _, client in
            let response = try await client.call(
                .post, "/admin/login", .none, body: "token=wrong&next=%2Fadmin%2F",
                headers: [.contentType: "application/x-www-form-urlencoded"])
            #expect(response.status == .unauthorized)
            #expect(response.headers[.setCookie] == nil)
            #expect(response.text.contains("That token is not valid."))
            let viaQuery = try await client.call(.get, "/admin/login?token=wrong", .none)
            #expect(viaQuery.status == .unauthorized)
            #expect(viaQuery.headers[.setCookie] == nil)
        }
    }

    @Test func tokenQueryLogsInOnceAndRedirectsOnlyWithinTheAdminServer() async throws {
        try await withAdminFixture("page_query") { _, client in
            let response = try await client.call(.get, "/admin/login?token=\(adminToken)&next=%2Fadmin%2Fui%2Fjobs", .none)
            #expect(response.status == .seeOther)
            #expect(response.headers[.location] == "/admin/ui/jobs")
            #expect(response.headers[.setCookie] != nil)
            for next in ["https://evil.example/", "//evil.example/admin", "/admin\\..\\x", "/other"] {
                let redirect = try await client.call(
                    .get, "/admin/login?token=\(adminToken)&next=\(QueryParameters.encode(next))", .none)
                #expect(redirect.headers[.location] == "/admin/", "next \(next)")
            }
        }
    }

    @Test func logoutEndsTheSession() async throws {
        try await withAdminFixture("page_logout") { _, client in
            let session = try await client.login()
            let response = try await client.call(.post, "/admin/logout", .cookie(session))
            #expect(response.status == .seeOther)
            #expect(response.headers[.setCookie]?.contains("Max-Age=0") == true)
            #expect(try await client.call(.get, "/admin/stats", .cookie(session)).status == .unauthorized)
        }
    }

    @Test func cookieAuthenticatedChangeNeedsTheAdminHeader() async throws {
        try await withAdminFixture("page_csrf") { fixture, client in
            let job = try await fixture.job(in: .scheduled)
            let session = try await client.login()
            let refused = try await client.call(.post, "/admin/jobs/\(apiID(job.id))/cancel", .cookie(session), body: "{}")
            #expect(refused.status == .forbidden)
            #expect(try refused.errorCode() == "missing_csrf_header")
            #expect(try await fixture.jobs.job(job.id).status == .scheduled)
            let accepted = try await client.call(
                .post, "/admin/jobs/\(apiID(job.id))/cancel", .cookie(session), body: "{}", headers: [AdminAuthenticator.csrfHeader: "1"])
            #expect(accepted.status == .ok)
            #expect(try await fixture.jobs.job(job.id).status == .cancelled)
        }
    }

    // MARK: - Pages

    @Test func dashboardShowsCountsQueuesStuckAndRecentJobs() async throws {
        try await withAdminFixture("page_dash") { fixture, client in
            let failed = try await fixture.job(in: .failed, options: .init(queue: "images"))
            _ = try await fixture.job(in: .scheduled)
            let stuck = try await fixture.job(in: .inProgress, type: "ocr")
            try await fixture.expireLease(stuck.id)
            let page = try await client.call(.get, "/admin/")
            #expect(page.status == .ok)
            let html = page.text
            #expect(html.contains(#"data-count="failed">1<"#))
            #expect(html.contains(#"data-count="scheduled">1<"#))
            #expect(html.contains(#"data-count="in_progress">1<"#))
            #expect(html.contains(#"data-count="stuck">1<"#))
            #expect(html.contains(#"data-queue="images""#))
            #expect(html.contains(#"data-job-id="\#(apiID(failed.id))""#))
            let stuckTable = try #require(html.range(of: #"id="stuck-jobs""#))
            #expect(html[stuckTable.lowerBound...].contains(apiID(stuck.id)))
            #expect(html.contains(#"data-refresh="5""#))
            let policy = try #require(page.headers[.contentSecurityPolicy])
            #expect(policy.contains("script-src 'nonce-"))
            #expect(page.headers[.cacheControl] == "no-store")
        }
    }

    @Test func jobListFiltersAndPages() async throws {
        try await withAdminFixture("page_list") { fixture, client in
            let failed = try await fixture.job(in: .failed)
            let scheduled = try await fixture.job(in: .scheduled)
            let filtered = try await client.call(.get, "/admin/ui/jobs?status=failed").text
            #expect(filtered.contains(apiID(failed.id)))
            #expect(!filtered.contains(apiID(scheduled.id)))
            #expect(filtered.contains(#"<option value="failed" selected>"#))
            let first = try await client.call(.get, "/admin/ui/jobs?limit=1").text
            #expect(first.contains(apiID(scheduled.id)))
            #expect(first.contains(#"id="next-page""#))
            let next = try #require(first.range(of: #"/admin/ui/jobs\?limit=1&amp;after=[0-9a-f-]+"#, options: .regularExpression))
            let second = try await client.call(.get, String(first[next]).replacingOccurrences(of: "&amp;", with: "&")).text
            #expect(second.contains(apiID(failed.id)))
        }
    }

    @Test func jobPageShowsPayloadErrorHistoryAndTheActionsItsStatusAllows() async throws {
        try await withAdminFixture("page_job") { fixture, client in
            let job = try await fixture.job(in: .failed)
            let html = try await client.call(.get, "/admin/ui/jobs/\(apiID(job.id))").text
            #expect(html.contains("cat.png"))
            #expect(html.contains(#"id="error-message">factory failure<"#))
            #expect(html.contains(#"class="event" data-kind="failed""#))
            #expect(html.contains(#"data-action="retry""#))
            #expect(html.contains(#"data-action="force-reset""#))
            #expect(html.contains(#"data-action="cancel""#))
            #expect(!html.contains(#"data-action="force-fail""#))
        }
    }

    @Test func pageErrorsAreHTMLWithTheAPIsStatus() async throws {
        try await withAdminFixture("page_errors") { _, client in
            let malformed = try await client.call(.get, "/admin/ui/jobs/not-a-uuid")
            #expect(malformed.status == .badRequest)
            #expect(malformed.text.contains(#"data-code="malformed_id""#))
            let unknown = try await client.call(.get, "/admin/ui/jobs/\(apiID(UUID()))")
            #expect(unknown.status == .notFound)
            #expect(unknown.headers[.contentType]?.hasPrefix("text/html") == true)
            let invalid = try await client.call(.get, "/admin/ui/jobs?status=bogus")
            #expect(invalid.status == .unprocessableContent)
        }
    }

    @Test func userTextIsEscaped() async throws {
        try await withAdminFixture("page_escape") { fixture, client in
            let job = try await fixture.job(in: .scheduled, type: "<script>alert(1)</script>", payload: ["x": "<img src=x onerror=alert(1)>"])
            let html = try await client.call(.get, "/admin/ui/jobs/\(apiID(job.id))").text
            #expect(!html.contains("<script>alert(1)"))
            #expect(!html.contains("<img src=x"))
            #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        }
    }
}
