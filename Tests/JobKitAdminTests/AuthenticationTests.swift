import Foundation
import HTTPTypes
import HummingbirdTesting
import JobKit
@testable import JobKitAdmin
import Testing

/// Every endpoint of the API, as a test argument: its method, path, a body that succeeds, and
/// the status the job it acts on must have for that.
struct Endpoint: Sendable, CustomTestStringConvertible {
    var method: HTTPRequest.Method
    var path: String
    var body: String?
    /// The status of the job the path's `{id}` names; `nil` when it names none.
    var jobStatus: JobStatus?
    /// The status a good request answers.
    var success: HTTPResponse.Status = .ok

    var testDescription: String { "\(self.method) \(self.path)" }

    func uri(_ id: UUID?) -> String {
        self.path.replacingOccurrences(of: "{id}", with: id.map(apiID) ?? "")
    }

    static let all: [Endpoint] = [
        Endpoint(method: .get, path: "/admin/stats"),
        Endpoint(method: .get, path: "/admin/health"),
        Endpoint(method: .get, path: "/admin/jobs"),
        Endpoint(method: .get, path: "/admin/jobs/{id}", jobStatus: .failed),
        Endpoint(method: .get, path: "/admin/jobs/{id}/validate", jobStatus: .done),
        Endpoint(method: .post, path: "/admin/cleanup", body: #"{"older_than_seconds": 86400}"#),
        Endpoint(method: .post, path: "/admin/recover-stuck"),
        Endpoint(method: .post, path: "/admin/jobs/{id}/cancel", body: #"{"reason": "not needed"}"#, jobStatus: .scheduled),
        Endpoint(method: .post, path: "/admin/jobs/{id}/retry", jobStatus: .failed),
        Endpoint(method: .post, path: "/admin/jobs/{id}/force-fail", body: #"{"reason": "stuck"}"#, jobStatus: .inProgress),
        Endpoint(method: .post, path: "/admin/jobs/{id}/force-reset", body: #"{"reason": "stuck"}"#, jobStatus: .inProgress),
    ]
}

@Suite(.timeLimit(.minutes(3)))
struct AuthenticationTests {
    @Test(arguments: Endpoint.all)
    func endpointAnswersAGoodTokenAndRefusesAWrongOrMissingOneWithoutData(_ endpoint: Endpoint) async throws {
        try await withAdminFixture("auth") { fixture, client in
            var job: Job?
            if let status = endpoint.jobStatus { job = try await fixture.job(in: status) }
            let before = job
            for credential in [Credential.wrongToken, .none, .authorization("Basic \(adminToken)"), .cookie("forged-session")] {
                let response = try await client.call(endpoint.method, endpoint.uri(job?.id), credential, body: endpoint.body)
                #expect(response.status == .unauthorized, "\(endpoint) with \(credential)")
                #expect(try response.errorCode() == "unauthorized")
                #expect(try response.json().keys.sorted() == ["error"], "a refusal carries no data: \(response.text)")
                if let job { #expect(!response.text.contains(apiID(job.id))) }
                #expect(response.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)
            }
            if let job, let before {
                #expect(try await fixture.jobs.job(job.id) == before, "a refused request changes nothing")
            }
            let response = try await client.call(endpoint.method, endpoint.uri(job?.id), .token, body: endpoint.body)
            #expect(response.status == endpoint.success, "\(endpoint): \(response.text)")
            _ = try response.json()
        }
    }

    @Test func bearerSchemeIsCaseInsensitive() async throws {
        try await withAdminFixture("auth_scheme") { _, client in
            let response = try await client.call(.get, "/admin/stats", .authorization("bearer \(adminToken)"))
            #expect(response.status == .ok)
        }
    }

    @Test func aTokenThatOnlySharesAPrefixIsRefused() async throws {
        try await withAdminFixture("auth_prefix") { _, client in
            for candidate in [String(adminToken.dropLast()), adminToken + "x", "", " "] {
                let response = try await client.call(.get, "/admin/stats", .authorization("Bearer \(candidate)"))
                #expect(response.status == .unauthorized, "token \(candidate.debugDescription)")
            }
        }
    }

    @Test func openAPIDocumentNeedsNoToken() async throws {
        try await withAdminFixture("auth_openapi") { _, client in
            let response = try await client.call(.get, "/admin/openapi.json", .none)
            #expect(response.status == .ok)
        }
    }

    @Test func unknownRouteIsAJSON404() async throws {
        try await withAdminFixture("auth_route") { _, client in
            for credential in [Credential.token, .none] {
                let response = try await client.call(.get, "/admin/nothing-here", credential)
                #expect(response.status == .notFound)
                #expect(try response.errorCode() == "route_not_found")
            }
            let wrongMethod = try await client.call(.delete, "/admin/jobs", .token)
            #expect(wrongMethod.status == .notFound)
        }
    }

    @Test func serverWithoutTokenOnLoopbackServesWithoutCredentials() async throws {
        let configuration = AdminServer.Configuration(token: nil, allowsUnauthenticatedLoopback: true)
        try await withAdminFixture("auth_open", configuration: configuration) { _, client in
            #expect(try await client.call(.get, "/admin/stats", .none).status == .ok)
            let page = try await client.call(.get, "/admin/", .none)
            #expect(page.status == .ok)
            #expect(!page.text.contains("Log out"))
        }
    }

    @Test func constantTimeComparisonComparesWholeInputs() {
        let token = Array("abcdef".utf8)
        #expect(AdminAuthenticator.constantTimeEquals(token, token))
        #expect(!AdminAuthenticator.constantTimeEquals(token, Array("abcdeF".utf8)))
        #expect(!AdminAuthenticator.constantTimeEquals(token, Array("abcde".utf8)))
        #expect(!AdminAuthenticator.constantTimeEquals(token, Array("abcdef\u{0}".utf8)))
        #expect(!AdminAuthenticator.constantTimeEquals(token, []))
    }
}
