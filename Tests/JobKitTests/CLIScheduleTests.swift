import Foundation
import JobKit
import Testing

/// `jobkit schedules` and the schedules line of `jobkit stats`, run as a child process.
@Suite(.timeLimit(.minutes(3)))
struct CLIScheduleTests {
    static let t0 = Date(timeIntervalSince1970: 1_900_000_000)  // 2030-03-17T17:46:40Z

    static func register(_ fixture: JobKitFixture) async throws {
        try await fixture.jobs.registerSchedules([
            try JobSchedule(
                "nightly", jobType: "report", timing: .cron(try CronExpression("0 3 * * *")),
                timeZone: TimeZone(identifier: "Europe/Berlin")!, options: .init(queue: "reports"), missedTicks: .backfill(limit: 2)),
            try JobSchedule("heartbeat", jobType: "ping", timing: .every(.seconds(30))),
        ], at: Self.t0)
    }

    @Test func schedulesPrintsATableByName() async throws {
        try await withJobKitFixture("cli_schedules") { fixture in
            let empty = try await CLI.run(["schedules", "--database-url", fixture.configuration.connectionString])
            #expect(empty.status == 0, "\(empty.text)")
            #expect(empty.stdout == "No schedules.\n")

            try await Self.register(fixture)
            let output = try await CLI.run(["schedules", "--database-url", fixture.configuration.connectionString])
            #expect(output.status == 0, "\(output.text)")
            let lines = output.stdout.split(separator: "\n").map(String.init)
            #expect(lines.count == 3, "\(output.stdout)")
            #expect(lines.first?.hasPrefix("NAME") == true)
            #expect(lines.first?.contains("NEXT TICK") == true)
            let heartbeat = lines.dropFirst().first ?? ""
            #expect(heartbeat.hasPrefix("heartbeat"))
            #expect(heartbeat.contains("@every 30s") && heartbeat.contains("skip") && heartbeat.contains("2030-03-17T17:47:00Z"))
            let nightly = lines.last ?? ""
            #expect(nightly.hasPrefix("nightly"))
            #expect(nightly.contains("0 3 * * *") && nightly.contains("Europe/Berlin") && nightly.contains("backfill(2)"))
            #expect(nightly.contains("reports") && nightly.contains("2030-03-18T02:00:00Z"))
        }
    }

    @Test func schedulesJSONListsEveryField() async throws {
        try await withJobKitFixture("cli_schedules_json") { fixture in
            try await Self.register(fixture)
            let output = try await CLI.run(["schedules", "--json", "--database-url", fixture.configuration.connectionString])
            #expect(output.status == 0, "\(output.text)")
            let document = try #require(try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any])
            let schedules = try #require(document["schedules"] as? [[String: Any]])
            #expect(schedules.map { $0["name"] as? String } == ["heartbeat", "nightly"])
            let nightly = try #require(schedules.last)
            #expect(nightly["jobType"] as? String == "report")
            #expect(nightly["queue"] as? String == "reports")
            #expect(nightly["expression"] as? String == "0 3 * * *")
            #expect(nightly["kind"] as? String == "cron")
            #expect(nightly["timeZone"] as? String == "Europe/Berlin")
            #expect(nightly["missedTicks"] as? String == "backfill")
            #expect(nightly["backfillLimit"] as? Int == 2)
            #expect(nightly["nextTickAt"] as? String == "2030-03-18T02:00:00Z")
            #expect(nightly["lastTickAt"] == nil)
        }
    }

    @Test func removeDeletesOneScheduleAndAnUnknownNameExits3() async throws {
        try await withJobKitFixture("cli_schedules_remove") { fixture in
            try await Self.register(fixture)
            let removed = try await CLI.run(["schedules", "remove", "nightly", "--database-url", fixture.configuration.connectionString])
            #expect(removed.status == 0, "\(removed.text)")
            #expect(removed.stdout == "Removed schedule nightly.\n")
            #expect(try await fixture.jobs.schedules().map(\.name) == ["heartbeat"])

            let unknown = try await CLI.run(["schedules", "remove", "nightly", "--database-url", fixture.configuration.connectionString])
            #expect(unknown.status == 3, "\(unknown.text)")
            #expect(unknown.errorLines == ["Error: no schedule is called \"nightly\""], "\(unknown.text)")
            #expect(try await fixture.jobs.schedules().map(\.name) == ["heartbeat"])

            let listed = try await CLI.run(["schedules", "list", "--database-url", fixture.configuration.connectionString])
            #expect(listed.status == 0, "\(listed.text)")
            #expect(listed.stdout.split(separator: "\n").count == 2, "\(listed.stdout)")
        }
    }

    @Test func statsCountsTheSchedules() async throws {
        try await withJobKitFixture("cli_schedules_stats") { fixture in
            try await Self.register(fixture)
            let text = try await CLI.run(["stats", "--database-url", fixture.configuration.connectionString])
            #expect(text.status == 0, "\(text.text)")
            #expect(text.stdout.contains("periodic schedules: 2"))
            let json = try await CLI.run(["stats", "--json", "--database-url", fixture.configuration.connectionString])
            let stats = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
            #expect(stats["schedules"] as? Int == 2)
        }
    }
}
