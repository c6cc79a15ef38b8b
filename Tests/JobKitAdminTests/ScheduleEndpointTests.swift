import Foundation
import HTTPTypes
import HummingbirdTesting
import JobKit
import JobKitAdmin
import Testing

@Suite(.timeLimit(.minutes(3)))
struct ScheduleEndpointTests {
    @Test func schedulesAreListedByNameWithTheirTicks() async throws {
        try await withAdminFixture("schedules") { fixture, client in
            let empty = try await client.call(.get, "/admin/schedules")
            #expect(empty.status == .ok)
            #expect((try empty.json()["schedules"] as? [Any])?.isEmpty == true)

            try await fixture.jobs.registerSchedules([
                try JobSchedule(
                    "nightly", jobType: "report", timing: .cron(try CronExpression("0 3 * * *")),
                    timeZone: TimeZone(identifier: "Europe/Berlin")!, missedTicks: .backfill(limit: 2)),
                try JobSchedule("heartbeat", jobType: "ping", timing: .every(.seconds(30))),
            ], at: Date(timeIntervalSince1970: 1_900_000_000))
            let response = try await client.call(.get, "/admin/schedules")
            #expect(response.status == .ok)
            let schedules = try #require(try response.json()["schedules"] as? [[String: Any]])
            #expect(schedules.map { $0["name"] as? String } == ["heartbeat", "nightly"])
            let nightly = try #require(schedules.last)
            #expect(nightly["job_type"] as? String == "report")
            #expect(nightly["queue"] as? String == "default")
            #expect(nightly["expression"] as? String == "0 3 * * *")
            #expect(nightly["kind"] as? String == "cron")
            #expect(nightly["time_zone"] as? String == "Europe/Berlin")
            #expect(nightly["missed_ticks"] as? String == "backfill")
            #expect(nightly["backfill_limit"] as? Int == 2)
            #expect(nightly["next_tick_at"] as? String == "2030-03-18T02:00:00.000Z")
            #expect(nightly["last_tick_at"] == nil)
            let heartbeat = try #require(schedules.first)
            #expect(heartbeat["expression"] as? String == "@every 30s")
            #expect(heartbeat["kind"] as? String == "interval")

            let stats = try await client.call(.get, "/admin/stats")
            #expect(try stats.json()["schedules"] as? Int == 2)
        }
    }

    @Test func schedulesNeedTheToken() async throws {
        try await withAdminFixture("schedules_auth") { _, client in
            let response = try await client.call(.get, "/admin/schedules", .none)
            #expect(response.status == .unauthorized)
        }
    }
}
