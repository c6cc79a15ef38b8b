import Foundation
import HTTPTypes
import HummingbirdTesting
import JobKit
import JobKitAdmin
import Testing

@Suite(.timeLimit(.minutes(3)))
struct ActionEndpointTests {
    @Test func cancelScheduledJobRecordsReasonAndDefaultActor() async throws {
        try await withAdminFixture("act_cancel") { fixture, client in
            let job = try await fixture.job(in: .scheduled)
            let response = try await client.call(.post, "/admin/jobs/\(apiID(job.id))/cancel", body: #"{"reason": "customer left"}"#)
            #expect(response.status == .ok)
            #expect(try response.json()["status"] as? String == "cancelled")
            let event = try #require(try await fixture.jobs.history(of: job.id).last)
            #expect(event.kind == "cancelled")
            #expect(event.message == "customer left")
            #expect(event.actor == "admin-api")
        }
    }

    @Test func cancelRunningJobIsAcceptedAndRequested() async throws {
        try await withAdminFixture("act_cancel_run") { fixture, client in
            let job = try await fixture.job(in: .inProgress)
            let response = try await client.call(.post, "/admin/jobs/\(apiID(job.id))/cancel")
            #expect(response.status == .accepted)
            let json = try response.json()
            #expect(json["status"] as? String == "in_progress")
            #expect(json["cancel_requested_at"] is String)
        }
    }

    @Test func retryFailedJobRecordsTheActor() async throws {
        try await withAdminFixture("act_retry") { fixture, client in
            let job = try await fixture.job(in: .failed)
            let response = try await client.call(.post, "/admin/jobs/\(apiID(job.id))/retry", body: #"{"actor": "alice"}"#)
            #expect(response.status == .ok)
            #expect(try response.json()["status"] as? String == "scheduled")
            let event = try #require(try await fixture.jobs.history(of: job.id).last)
            #expect(event.kind == "retried")
            #expect(event.actor == "alice")
        }
    }

    @Test func forceFailRunningJobStoresTheReason() async throws {
        try await withAdminFixture("act_ffail") { fixture, client in
            let job = try await fixture.job(in: .inProgress)
            let response = try await client.call(
                .post, "/admin/jobs/\(apiID(job.id))/force-fail", body: #"{"reason": "hung on page 3", "actor": "ops"}"#)
            #expect(response.status == .ok)
            let json = try response.json()
            #expect(json["status"] as? String == "failed")
            #expect((json["error_message"] as? String)?.contains("hung on page 3") == true)
            let event = try #require(try await fixture.jobs.history(of: job.id).last)
            #expect(event.kind == "force_failed")
            #expect(event.actor == "ops")
        }
    }

    @Test func forceResetFailedJobSchedulesIt() async throws {
        try await withAdminFixture("act_freset") { fixture, client in
            let job = try await fixture.job(in: .failed)
            let response = try await client.call(.post, "/admin/jobs/\(apiID(job.id))/force-reset", body: #"{"reason": "fixed the bug"}"#)
            #expect(response.status == .ok)
            #expect(try response.json()["status"] as? String == "scheduled")
            #expect(try await fixture.jobs.history(of: job.id).last?.kind == "force_reset")
        }
    }

    /// Each action on a job whose status forbids it: 409, naming the current and requested
    /// status, and the row unchanged.
    @Test(arguments: [
        ("cancel", JobStatus.done, JobStatus.cancelled),
        ("cancel", .cancelled, .cancelled),
        ("retry", .scheduled, .scheduled),
        ("retry", .done, .scheduled),
        ("force-fail", .scheduled, .failed),
        ("force-fail", .failed, .failed),
        ("force-reset", .done, .scheduled),
        ("force-reset", .scheduled, .scheduled),
    ])
    func illegalTransitionIs409NamingTheCurrentStatus(_ action: String, _ status: JobStatus, _ requested: JobStatus) async throws {
        try await withAdminFixture("act_409") { fixture, client in
            let job = try await fixture.job(in: status)
            let response = try await client.call(.post, "/admin/jobs/\(apiID(job.id))/\(action)", body: #"{"reason": "try"}"#)
            #expect(response.status == .conflict)
            let error = try response.error()
            #expect(error["code"] as? String == "illegal_transition")
            #expect(error["current_status"] as? String == status.rawValue)
            #expect(error["requested_status"] as? String == requested.rawValue)
            #expect(error["job_id"] as? String == apiID(job.id))
            #expect((error["message"] as? String)?.contains("from \(status.rawValue)") == true)
            #expect(try await fixture.jobs.job(job.id) == job)
        }
    }

    @Test(arguments: ["force-fail", "force-reset"])
    func forcedChangeWithoutAReasonIs422(_ action: String) async throws {
        try await withAdminFixture("act_reason") { fixture, client in
            let job = try await fixture.job(in: .inProgress)
            for body in [nil, "{}", #"{"reason": ""}"#, #"{"reason": "   "}"#, #"{"actor": "ops"}"#] {
                let response = try await client.call(.post, "/admin/jobs/\(apiID(job.id))/\(action)", body: body)
                #expect(response.status == .unprocessableContent, "body \(body ?? "none")")
                #expect(try response.errorCode() == "invalid_value")
                #expect(try response.error()["parameter"] as? String == "reason")
            }
            #expect(try await fixture.jobs.job(job.id) == job)
        }
    }

    @Test(arguments: AdminActionName.all)
    func actionOnUnknownJobIs404(_ action: AdminActionName) async throws {
        try await withAdminFixture("act_404") { _, client in
            let response = try await client.call(.post, "/admin/jobs/\(apiID(UUID()))/\(action.name)", body: #"{"reason": "r"}"#)
            #expect(response.status == .notFound)
            #expect(try response.errorCode() == "not_found")
        }
    }

    @Test(arguments: AdminActionName.all)
    func actionWithMalformedIDOrBodyIs400(_ action: AdminActionName) async throws {
        try await withAdminFixture("act_400") { fixture, client in
            let job = try await fixture.job(in: .inProgress)
            let malformedID = try await client.call(.post, "/admin/jobs/123/\(action.name)", body: #"{"reason": "r"}"#)
            #expect(malformedID.status == .badRequest)
            #expect(try malformedID.errorCode() == "malformed_id")
            for body in ["{", "not json", "[]", "null", "42", #"{"reason": 5}"#, #"{"actor": ["a"]}"#] {
                let response = try await client.call(.post, "/admin/jobs/\(apiID(job.id))/\(action.name)", body: body)
                #expect(response.status == .badRequest, "body \(body)")
                #expect(try response.errorCode() == "malformed_body")
            }
            #expect(try await fixture.jobs.job(job.id) == job)
        }
    }

    @Test func overlongOrNULTextIs422() async throws {
        try await withAdminFixture("act_text") { fixture, client in
            let job = try await fixture.job(in: .inProgress)
            let long = String(repeating: "x", count: 2001)
            for (body, parameter) in [
                (#"{"reason": "\#(long)"}"#, "reason"),
                (#"{"reason": "ok", "actor": "\#(String(repeating: "a", count: 201))"}"#, "actor"),
                (#"{"reason": "a\u0000b"}"#, "reason"),
            ] {
                let response = try await client.call(.post, "/admin/jobs/\(apiID(job.id))/force-fail", body: body)
                #expect(response.status == .unprocessableContent)
                #expect(try response.error()["parameter"] as? String == parameter)
            }
            #expect(try await fixture.jobs.job(job.id) == job)
        }
    }

    @Test func bodyOverTheLimitIs413() async throws {
        try await withAdminFixture("act_413") { fixture, client in
            let job = try await fixture.job(in: .inProgress)
            let body = #"{"reason": "\#(String(repeating: "x", count: 70_000))"}"#
            let response = try await client.call(.post, "/admin/jobs/\(apiID(job.id))/force-fail", body: body)
            #expect(response.status == .contentTooLarge)
            #expect(try response.errorCode() == "body_too_large")
        }
    }
}

/// An action's path segment, as a test argument.
struct AdminActionName: Sendable, CustomTestStringConvertible {
    var name: String
    var testDescription: String { self.name }
    static let all = ["cancel", "retry", "force-fail", "force-reset"].map(AdminActionName.init)
}
