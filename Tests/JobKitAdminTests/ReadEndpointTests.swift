import Foundation
import HTTPTypes
import HummingbirdTesting
import JobKit
import JobKitAdmin
import Testing

@Suite(.timeLimit(.minutes(3)))
struct ReadEndpointTests {
    @Test func statsCountByStatusQueueAndType() async throws {
        try await withAdminFixture("read_stats") { fixture, client in
            _ = try await fixture.job(in: .done, options: .init(queue: "images"))
            _ = try await fixture.job(in: .failed)
            _ = try await fixture.job(in: .scheduled, type: "ocr")
            let response = try await client.call(.get, "/admin/stats?window_seconds=600")
            #expect(response.status == .ok)
            let json = try response.json()
            #expect(json["total"] as? Int == 3)
            let byStatus = try #require(json["by_status"] as? [String: Int])
            #expect(byStatus == ["scheduled": 1, "in_progress": 0, "done": 1, "failed": 1, "cancelled": 0])
            let byQueue = try #require(json["by_queue"] as? [String: [String: Int]])
            #expect(byQueue["images"]?["done"] == 1)
            #expect(byQueue["default"]?["failed"] == 1)
            let byType = try #require(json["by_type"] as? [String: [String: Int]])
            #expect(byType["ocr"]?["scheduled"] == 1)
            #expect(json["window_seconds"] as? Double == 600)
        }
    }

    @Test func healthReportsAHealthyMigratedDatabase() async throws {
        try await withAdminFixture("read_health") { _, client in
            let response = try await client.call(.get, "/admin/health")
            #expect(response.status == .ok)
            let json = try response.json()
            #expect(json["healthy"] as? Bool == true)
            #expect(json["database_reachable"] as? Bool == true)
            #expect(json["schema_version"] as? Int == json["expected_schema_version"] as? Int)
            #expect((json["problems"] as? [Any])?.isEmpty == true)
        }
    }

    @Test func jobShowsItsPayloadResultAndHistory() async throws {
        try await withAdminFixture("read_job") { fixture, client in
            let job = try await fixture.job(in: .failed, options: .init(reference: .init("document", "doc-7")))
            let response = try await client.call(.get, "/admin/jobs/\(apiID(job.id))")
            #expect(response.status == .ok)
            let json = try response.json()
            let shown = try #require(json["job"] as? [String: Any])
            #expect(shown["id"] as? String == apiID(job.id))
            #expect(shown["status"] as? String == "failed")
            #expect((shown["payload"] as? [String: Any])?["image"] as? String == "cat.png")
            #expect(shown["error_message"] as? String == "factory failure")
            #expect((shown["reference"] as? [String: Any])?["id"] as? String == "doc-7")
            #expect(shown["lease"] == nil)
            let history = try #require(json["history"] as? [[String: Any]])
            let failure = try #require(history.last)
            #expect(failure["kind"] as? String == "failed")
            #expect(failure["from_status"] as? String == "in_progress")
            #expect(failure["to_status"] as? String == "failed")
            #expect(failure["message"] as? String == "factory failure")
        }
    }

    @Test func doneJobShowsItsResultAsJSON() async throws {
        try await withAdminFixture("read_result") { fixture, client in
            let job = try await fixture.job(in: .done)
            let shown = try #require(try await client.call(.get, "/admin/jobs/\(apiID(job.id))").json()["job"] as? [String: Any])
            #expect((shown["result"] as? [String: Any])?["width"] as? Int == 64)
            #expect(shown["progress"] as? Int == 100)
        }
    }

    @Test func runningJobShowsItsLeaseButNotItsToken() async throws {
        try await withAdminFixture("read_lease") { fixture, client in
            let job = try await fixture.job(in: .inProgress)
            let response = try await client.call(.get, "/admin/jobs/\(apiID(job.id))")
            let shown = try #require(try response.json()["job"] as? [String: Any])
            #expect((shown["lease"] as? [String: Any])?["owner"] as? String == "admin-test-worker")
            let token = try #require(job.lease?.token)
            #expect(!response.text.lowercased().contains(token.uuidString.lowercased()))
        }
    }

    @Test func listFiltersByStatusTypeQueueReferenceAndCreationTime() async throws {
        try await withAdminFixture("read_filter") { fixture, client in
            let failed = try await fixture.job(in: .failed)
            let ocr = try await fixture.job(in: .scheduled, type: "ocr", options: .init(queue: "docs", reference: .init("document", "d 1&2")))
            let done = try await fixture.job(in: .done)
            try await fixture.backdate(done.id, seconds: 7200)
            func ids(_ query: String) async throws -> [String] {
                let response = try await client.call(.get, "/admin/jobs" + query)
                try #require(response.status == .ok, "\(query): \(response.text)")
                return try #require(try response.json()["jobs"] as? [[String: Any]]).compactMap { $0["id"] as? String }
            }
            #expect(try await ids("?status=failed") == [apiID(failed.id)])
            #expect(try await ids("?status=failed,scheduled") == [apiID(ocr.id), apiID(failed.id)])
            #expect(try await ids("?status=failed&status=done") == [apiID(done.id), apiID(failed.id)])
            #expect(try await ids("?type=ocr") == [apiID(ocr.id)])
            #expect(try await ids("?queue=docs") == [apiID(ocr.id)])
            #expect(try await ids("?reference_type=document&reference_id=d+1%262") == [apiID(ocr.id)])
            let hourAgo = ISO8601DateFormatter().string(from: Date().addingTimeInterval(-3600))
            #expect(try await ids("?created_before=\(hourAgo)") == [apiID(done.id)])
            #expect(Set(try await ids("?created_after=\(hourAgo)")) == [apiID(failed.id), apiID(ocr.id)])
            #expect(try await ids("?type=&queue=").count == 3, "empty parameters count as absent")
        }
    }

    @Test func listPagesWithACursorUntilNextCursorIsNull() async throws {
        try await withAdminFixture("read_pages") { fixture, client in
            var created: [String] = []
            for _ in 0..<5 { created.append(apiID(try await fixture.job(in: .scheduled).id)) }
            var seen: [String] = []
            var cursor: String?
            var pages = 0
            repeat {
                let response = try await client.call(.get, "/admin/jobs?limit=2" + (cursor.map { "&after=\($0)" } ?? ""))
                let json = try response.json()
                seen += try #require(json["jobs"] as? [[String: Any]]).compactMap { $0["id"] as? String }
                #expect(json.keys.contains("next_cursor"))
                cursor = json["next_cursor"] as? String
                pages += 1
            } while cursor != nil && pages < 10
            #expect(seen == created.reversed(), "newest first, each once")
            #expect(pages == 3)
        }
    }

    @Test func validateReportsIssuesWithoutFixingThem() async throws {
        try await withAdminFixture("read_validate") { fixture, client in
            let job = try await fixture.job(in: .done)
            let clean = try await client.call(.get, "/admin/jobs/\(apiID(job.id))/validate").json()
            #expect(clean["valid"] as? Bool == true)
            #expect((clean["issues"] as? [Any])?.isEmpty == true)
            try await fixture.pool.query("UPDATE jobkit.jobs SET progress = 50 WHERE id = \(job.id)")
            let broken = try await client.call(.get, "/admin/jobs/\(apiID(job.id))/validate").json()
            #expect(broken["valid"] as? Bool == false)
            let issue = try #require((broken["issues"] as? [[String: Any]])?.first)
            #expect(issue["status"] as? String == "done")
            #expect(issue["code"] as? String == "done_below_100")
            #expect(issue["fixable"] as? Bool == true)
            #expect(try await fixture.jobs.job(job.id).progress == 50, "GET changes nothing")
        }
    }

    @Test func unknownJobIs404() async throws {
        try await withAdminFixture("read_404") { _, client in
            for path in ["", "/validate"] {
                let response = try await client.call(.get, "/admin/jobs/\(apiID(UUID()))\(path)")
                #expect(response.status == .notFound)
                #expect(try response.errorCode() == "not_found")
            }
        }
    }
}
