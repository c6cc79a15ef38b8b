import Foundation
import Hummingbird
import HummingbirdTesting
import JobKit
import Testing

/// `GET /admin/queues` and `POST /admin/queues/{name}/pause|resume` against a real database.
@Suite(.timeLimit(.minutes(3)))
struct QueueEndpointTests {
    @Test func queuesNeedTheToken() async throws {
        try await withAdminFixture("queues_auth") { fixture, client in
            try await fixture.jobs.configureQueue("mail", QueueSettings(concurrencyLimit: 3))
            for credential in [Credential.none, .wrongToken] {
                for (method, uri) in [(HTTPRequest.Method.get, "/admin/queues"), (.post, "/admin/queues/mail/pause"), (.post, "/admin/queues/mail/resume")] {
                    let response = try await client.call(method, uri, credential)
                    #expect(response.status == .unauthorized, "\(method) \(uri) with \(credential)")
                    #expect(!response.text.contains("mail"))
                }
            }
            #expect(try await fixture.jobs.queues().first?.isPaused == false)
        }
    }

    @Test func pauseAndResumeChangeTheQueueForEveryone() async throws {
        try await withAdminFixture("queues_pause") { fixture, client in
            try await fixture.jobs.configureQueue("reports", QueueSettings(keyLimit: 2, rateLimit: .init(10, per: .seconds(60))))
            _ = try await fixture.jobs.create("report", options: .init(queue: "reports"))

            let paused = try await client.call(.post, "/admin/queues/reports/pause")
            #expect(paused.status == .ok)
            let pausedQueue = try #require(try JSONSerialization.jsonObject(with: Data(paused.text.utf8)) as? [String: Any])
            #expect(pausedQueue["paused"] as? Bool == true)
            #expect(pausedQueue["paused_at"] is String)
            #expect(pausedQueue["key_limit"] as? Int == 2)
            #expect((pausedQueue["rate_limit"] as? [String: Any])?["period_seconds"] as? Double == 60)
            #expect(pausedQueue["scheduled"] as? Int == 1)
            #expect(try await fixture.jobs.queues().first { $0.name == "reports" }?.isPaused == true)

            let list = try await client.call(.get, "/admin/queues")
            #expect(list.status == .ok)
            let queues = try #require((try JSONSerialization.jsonObject(with: Data(list.text.utf8)) as? [String: Any])?["queues"] as? [[String: Any]])
            #expect(queues.map { $0["name"] as? String } == ["reports"])

            let resumed = try await client.call(.post, "/admin/queues/reports/resume", body: "{}")
            #expect(resumed.status == .ok)
            #expect(resumed.text.contains(#""paused":false"#))
            #expect(try await fixture.jobs.queues().first { $0.name == "reports" }?.isPaused == false)
        }
    }

    @Test func badNamesAndBodiesChangeNothing() async throws {
        try await withAdminFixture("queues_bad") { fixture, client in
            let long = String(repeating: "q", count: 2001)
            let overlong = try await client.call(.post, "/admin/queues/\(long)/pause")
            #expect(overlong.status == .unprocessableContent)
            #expect(try overlong.errorCode() == "invalid_value")
            let nul = try await client.call(.post, "/admin/queues/a%00b/pause")
            #expect(nul.status == .unprocessableContent)
            let spaced = try await client.call(.post, "/admin/queues/mail%20eu/resume")
            #expect(spaced.status == .ok && spaced.text.contains(#""name":"mail eu""#), "\(spaced.text)")
            for body in ["{", "[]", "42"] {
                let response = try await client.call(.post, "/admin/queues/mail/pause", body: body)
                #expect(response.status == .badRequest, "body \(body)")
            }
            #expect(try await fixture.jobs.queues().map(\.name) == ["mail eu"])
        }
    }
}
