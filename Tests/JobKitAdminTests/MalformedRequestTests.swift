import Foundation
import HTTPTypes
import HummingbirdTesting
import JobKit
import JobKitAdmin
import Testing

/// A request that must be refused, and how.
struct BadRequest: Sendable, CustomTestStringConvertible {
    var method: HTTPRequest.Method = .get
    var uri: String
    var body: String?
    var status: HTTPResponse.Status
    var code: String
    var parameter: String?

    var testDescription: String { "\(self.method) \(self.uri) \(self.body ?? "")" }

    static let unknownID = "0198a0c0-0000-7000-8000-000000000000"

    static let all: [BadRequest] = [
        BadRequest(uri: "/admin/jobs?limit=0", status: .unprocessableContent, code: "invalid_value", parameter: "limit"),
        BadRequest(uri: "/admin/jobs?limit=1001", status: .unprocessableContent, code: "invalid_value", parameter: "limit"),
        BadRequest(uri: "/admin/jobs?limit=-5", status: .unprocessableContent, code: "invalid_value", parameter: "limit"),
        BadRequest(uri: "/admin/jobs?limit=ten", status: .unprocessableContent, code: "invalid_value", parameter: "limit"),
        BadRequest(uri: "/admin/jobs?limit=99999999999999999999999", status: .unprocessableContent, code: "invalid_value", parameter: "limit"),
        BadRequest(uri: "/admin/jobs?limit=1&limit=2", status: .unprocessableContent, code: "invalid_value", parameter: "limit"),
        BadRequest(uri: "/admin/jobs?status=bogus", status: .unprocessableContent, code: "invalid_value", parameter: "status"),
        BadRequest(uri: "/admin/jobs?status=done,running", status: .unprocessableContent, code: "invalid_value", parameter: "status"),
        BadRequest(uri: "/admin/jobs?status=DONE", status: .unprocessableContent, code: "invalid_value", parameter: "status"),
        BadRequest(uri: "/admin/jobs?created_after=yesterday", status: .unprocessableContent, code: "invalid_value", parameter: "created_after"),
        BadRequest(uri: "/admin/jobs?created_before=2025-13-45T99:00:00Z", status: .unprocessableContent, code: "invalid_value", parameter: "created_before"),
        BadRequest(uri: "/admin/jobs?created_after=99999-01-01T00:00:00Z", status: .unprocessableContent, code: "invalid_value", parameter: "created_after"),
        BadRequest(uri: "/admin/jobs?after=not-a-cursor", status: .unprocessableContent, code: "invalid_value", parameter: "after"),
        BadRequest(uri: "/admin/jobs?reference_type=document", status: .unprocessableContent, code: "invalid_value", parameter: "reference_id"),
        BadRequest(uri: "/admin/jobs?reference_id=7", status: .unprocessableContent, code: "invalid_value", parameter: "reference_type"),
        BadRequest(uri: "/admin/jobs?type=%ZZ", status: .unprocessableContent, code: "invalid_value", parameter: "type"),
        BadRequest(uri: "/admin/jobs?type=%FF%FE", status: .unprocessableContent, code: "invalid_value", parameter: "type"),
        BadRequest(uri: "/admin/jobs?type=a%00b", status: .unprocessableContent, code: "invalid_value", parameter: "type"),
        BadRequest(uri: "/admin/jobs?queue=" + String(repeating: "q", count: 201), status: .unprocessableContent, code: "invalid_value", parameter: "queue"),
        BadRequest(uri: "/admin/stats?window_seconds=0", status: .unprocessableContent, code: "invalid_value", parameter: "window_seconds"),
        BadRequest(uri: "/admin/stats?window_seconds=1e3", status: .unprocessableContent, code: "invalid_value", parameter: "window_seconds"),
        BadRequest(uri: "/admin/jobs/not-a-uuid", status: .badRequest, code: "malformed_id"),
        BadRequest(uri: "/admin/jobs/%2e%2e", status: .badRequest, code: "malformed_id"),
        BadRequest(uri: "/admin/jobs/\(unknownID.dropLast())", status: .badRequest, code: "malformed_id"),
        BadRequest(uri: "/admin/jobs/\(unknownID)x/validate", status: .badRequest, code: "malformed_id"),
        BadRequest(uri: "/admin/jobs/%F0%9F%92%A5", status: .badRequest, code: "malformed_id"),
        BadRequest(uri: "/admin/jobs/\(unknownID)", status: .notFound, code: "not_found"),
        BadRequest(uri: "/admin/jobs/\(unknownID)/validate", status: .notFound, code: "not_found"),
        BadRequest(method: .post, uri: "/admin/jobs/\(unknownID)/cancel", body: "{", status: .badRequest, code: "malformed_body"),
        BadRequest(method: .post, uri: "/admin/jobs/zzz/cancel", body: "{", status: .badRequest, code: "malformed_id"),
        BadRequest(method: .post, uri: "/admin/cleanup", body: #"{"older_than_seconds": 1e400}"#, status: .badRequest, code: "malformed_body"),
        BadRequest(method: .post, uri: "/admin/cleanup", body: #"{"older_than_seconds": 10, "statuses": [null]}"#, status: .badRequest, code: "malformed_body"),
        BadRequest(method: .post, uri: "/admin/stats", status: .notFound, code: "route_not_found"),
        BadRequest(method: .put, uri: "/admin/jobs/\(unknownID)/cancel", status: .notFound, code: "route_not_found"),
        BadRequest(uri: "/admin/jobs/\(unknownID)/cancel", status: .notFound, code: "route_not_found"),
    ]
}

@Suite(.timeLimit(.minutes(3)))
struct MalformedRequestTests {
    @Test func everyMalformedRequestGetsItsStatusAndCodeAndNeverA500() async throws {
        try await withAdminFixture("malformed") { _, client in
            for bad in BadRequest.all {
                let response = try await client.call(bad.method, bad.uri, body: bad.body)
                #expect(response.status == bad.status, "\(bad.testDescription): \(response.text)")
                let error = try response.error()
                #expect(error["code"] as? String == bad.code, "\(bad.testDescription)")
                if let parameter = bad.parameter {
                    #expect(error["parameter"] as? String == parameter, "\(bad.testDescription)")
                }
                #expect(!response.text.localizedCaseInsensitiveContains("select "), "no SQL in \(response.text)")
            }
        }
    }

    @Test func garbageInEveryPlaceNeverProducesA500() async throws {
        let garbage = ["", "%", "%%", "\u{0}", "'; DROP TABLE jobkit.jobs; --", "😀", String(repeating: "9", count: 400), "{", "[]", "null"]
        try await withAdminFixture("garbage") { fixture, client in
            let job = try await fixture.job(in: .inProgress)
            for value in garbage {
                let encoded = value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
                for uri in [
                    "/admin/jobs?status=\(encoded)", "/admin/jobs?type=\(encoded)&queue=\(encoded)", "/admin/jobs?after=\(encoded)",
                    "/admin/jobs?reference_type=\(encoded)&reference_id=\(encoded)", "/admin/jobs?created_after=\(encoded)",
                    "/admin/stats?window_seconds=\(encoded)", "/admin/jobs/\(encoded)", "/admin/ui/jobs?type=\(encoded)",
                ] {
                    let response = try await client.call(.get, uri)
                    #expect(response.status.code < 500, "\(uri)")
                }
                for path in ["cancel", "force-fail", "force-reset", "retry"] where !value.isEmpty {
                    let response = try await client.call(.post, "/admin/jobs/\(apiID(job.id))/\(path)", body: value)
                    #expect(response.status.code < 500, "\(path) \(value)")
                    #expect(response.status != .ok, "\(path) with body \(value.debugDescription)")
                }
                let cleanup = try await client.call(.post, "/admin/cleanup", body: value)
                #expect(cleanup.status == .badRequest)
            }
            #expect(try await fixture.jobs.job(job.id) == job)
            #expect(try await fixture.jobs.stats().total == 1)
        }
    }
}
