import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JobKit
import JobKitAdmin
import Testing

@Suite(.timeLimit(.minutes(3)))
struct MaintenanceEndpointTests {
    @Test func cleanupDeletesOnlyOldJobsOfTheGivenStatuses() async throws {
        try await withAdminFixture("mnt_cleanup") { fixture, client in
            let oldDone = try await fixture.job(in: .done)
            let oldFailed = try await fixture.job(in: .failed)
            let recentDone = try await fixture.job(in: .done)
            try await fixture.backdate(oldDone.id, seconds: 3 * 86_400)
            try await fixture.backdate(oldFailed.id, seconds: 3 * 86_400)
            let response = try await client.call(
                .post, "/admin/cleanup", body: #"{"older_than_seconds": 86400, "statuses": ["done"], "batch_size": 1}"#)
            #expect(response.status == .ok)
            #expect(try response.json()["deleted"] as? Int == 1)
            await #expect(throws: JobError.notFound(oldDone.id)) { try await fixture.jobs.job(oldDone.id) }
            #expect(try await fixture.jobs.job(oldFailed.id).status == .failed)
            #expect(try await fixture.jobs.job(recentDone.id).status == .done)
        }
    }

    @Test(arguments: [
        (#"{"older_than_seconds": -1}"#, "older_than_seconds"),
        (#"{"older_than_seconds": 99999999999999}"#, "older_than_seconds"),
        (#"{}"#, "older_than_seconds"),
        (#"{"older_than_seconds": 60, "statuses": ["scheduled"]}"#, "statuses"),
        (#"{"older_than_seconds": 60, "statuses": ["bogus"]}"#, "statuses"),
        (#"{"older_than_seconds": 60, "batch_size": 0}"#, "batch_size"),
        (#"{"older_than_seconds": 60, "batch_size": 1000001}"#, "batch_size"),
    ])
    func cleanupWithAValueOutOfRangeIs422AndDeletesNothing(_ body: String, _ parameter: String) async throws {
        try await withAdminFixture("mnt_cleanup_422") { fixture, client in
            let job = try await fixture.job(in: .done)
            try await fixture.backdate(job.id, seconds: 86_400)
            let response = try await client.call(.post, "/admin/cleanup", body: body)
            #expect(response.status == .unprocessableContent, "\(body): \(response.text)")
            #expect(try response.errorCode() == "invalid_value")
            #expect(try response.error()["parameter"] as? String == parameter)
            #expect(try await fixture.jobs.job(job.id).status == .done)
        }
    }

    @Test func cleanupWithAMalformedBodyIs400() async throws {
        try await withAdminFixture("mnt_cleanup_400") { _, client in
            for body in ["", "{", #"{"older_than_seconds": "a day"}"#, #"{"older_than_seconds": 1.5}"#, #"{"statuses": "done"}"#] {
                let response = try await client.call(.post, "/admin/cleanup", body: body)
                #expect(response.status == .badRequest, "body \(body.debugDescription)")
                #expect(try response.errorCode() == "malformed_body")
            }
        }
    }

    @Test func recoverStuckReschedulesAJobWhoseLeaseExpired() async throws {
        try await withAdminFixture("mnt_recover") { fixture, client in
            let stuck = try await fixture.job(in: .inProgress, options: .init(maxAttempts: 3))
            let healthy = try await fixture.job(in: .inProgress)
            try await fixture.expireLease(stuck.id)
            let response = try await client.call(.post, "/admin/recover-stuck", body: "{}")
            #expect(response.status == .ok)
            let json = try response.json()
            #expect(json["rescheduled"] as? Int == 1)
            #expect(json["total"] as? Int == 1)
            #expect(try await fixture.jobs.job(stuck.id).status == .scheduled)
            #expect(try await fixture.jobs.job(healthy.id).status == .inProgress)
            let malformed = try await client.call(.post, "/admin/recover-stuck", body: "[1]")
            #expect(malformed.status == .badRequest)
        }
    }

    @Test func recoverStuckAppliesTheServicesPolicies() async throws {
        try await withAdminDatabase("mnt_policy") { fixture in
            var configuration = fixture.jobs.configuration
            configuration.stuckJobPolicies = ["ocr": .fail]
            let jobs = JobService(pool: fixture.jobs.pool, configuration: configuration)
            let router = try buildAdminRouter(jobs: jobs, configuration: .init(token: adminToken))
            let stuck = try await fixture.job(in: .inProgress, type: "ocr", options: .init(maxAttempts: 3))
            try await fixture.expireLease(stuck.id)
            try await Application(router: router).test(.router) { client in
                let json = try await client.call(.post, "/admin/recover-stuck").json()
                #expect(json["failed"] as? Int == 1)
            }
            #expect(try await fixture.jobs.job(stuck.id).status == .failed)
        }
    }
}
