import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import JobKit
import LibPQ
import PostgresTestSupport
import Testing

/// The `jobkit` command end to end: the built binary, run as a child process against a fresh database.
@Suite(.timeLimit(.minutes(5)))
struct CLITests {
    // MARK: - Migrate

    @Test func migrateAppliesTheSchemaAndStatusReportsIt() async throws {
        try await withJobKitFixture("cli_migrate", migrate: false) { fixture in
            let latest = try #require(Migration.all.map(\.version).max())
            let before = try await jobkit(fixture, "migrate", "status")
            #expect(before.status == 0, "\(before.text)")
            #expect(before.stdout.contains("version 0 of \(latest)"))

            let up = try await jobkit(fixture, "migrate", "up")
            #expect(up.status == 0, "\(up.text)")
            #expect(up.stdout.contains("Applied: \(Migration.all.map { String($0.version) }.joined(separator: ", "))"))

            let after = try await jobkit(fixture, "migrate", "status")
            #expect(after.stdout.contains("version \(latest) of \(latest); pending: none"))
            #expect(try await Migrator(pool: fixture.pool).status().isCurrent)
        }
    }

    @Test func aCommandOnAnUnmigratedSchemaSaysToMigrate() async throws {
        try await withJobKitFixture("cli_unmigrated", migrate: false) { fixture in
            let output = try await jobkit(fixture, "stats")
            #expect(output.status == 1)
            #expect(output.errorLines.count == 1, "\(output.stderr)")
            #expect(output.stderr.contains("jobkit migrate"))
        }
    }

    // MARK: - List and show

    @Test func listPrintsATableAndTheCursorOfTheNextPage() async throws {
        try await withJobKitFixture("cli_list") { fixture in
            let oldest = try await fixture.jobs.create("resize")
            let middle = try await fixture.jobs.create("resize")
            let newest = try await fixture.jobs.create("ocr", options: .init(queue: "slow"))

            let first = try await jobkit(fixture, "list", "--limit", "2")
            #expect(first.status == 0, "\(first.text)")
            let lines = first.stdout.split(separator: "\n")
            #expect(lines.first?.hasPrefix("ID") == true)
            #expect(lines.count == 4, "header, two jobs, the cursor:\n\(first.stdout)")
            #expect(lines.dropFirst().first?.hasPrefix(newest.id.uuidString.lowercased()) == true)
            #expect(lines.dropFirst().first?.contains("slow") == true)
            #expect(lines.dropFirst(2).first?.hasPrefix(middle.id.uuidString.lowercased()) == true)
            #expect(lines.last == "More: jobkit list --after \(middle.id.uuidString.lowercased())")

            let second = try await jobkit(fixture, "list", "--limit", "2", "--after", middle.id.uuidString, "--json")
            #expect(second.status == 0, "\(second.text)")
            let page = try object(second.stdout)
            let jobs = try #require(page["jobs"] as? [[String: Any]])
            #expect(jobs.map { $0["id"] as? String } == [oldest.id.uuidString.lowercased()])
            #expect(page["nextCursor"] is NSNull, "null on the last page")
        }
    }

    @Test func listFiltersByStatusTypeAndQueue() async throws {
        try await withJobKitFixture("cli_list_filter") { fixture in
            let failed = try await fixture.job(in: .failed)
            let done = try await fixture.job(in: .done)
            _ = try await fixture.job(in: .scheduled)
            let other = try await fixture.job(in: .scheduled, type: "ocr", options: .init(queue: "slow"))

            func ids(_ arguments: String...) async throws -> Set<String> {
                let output = try await jobkit(fixture, arguments + ["--json"])
                #expect(output.status == 0, "\(output.text)")
                let jobs = try #require(try object(output.stdout)["jobs"] as? [[String: Any]])
                return Set(jobs.compactMap { $0["id"] as? String })
            }
            #expect(try await ids("list", "--status", "failed", "--status", "done") == [failed.id.uuidString.lowercased(), done.id.uuidString.lowercased()])
            #expect(try await ids("list", "--type", "ocr") == [other.id.uuidString.lowercased()])
            #expect(try await ids("list", "--queue", "slow", "--status", "scheduled") == [other.id.uuidString.lowercased()])
            #expect(try await ids("list", "--status", "in_progress").isEmpty)
        }
    }

    @Test func showJSONHasTheJobAndItsHistory() async throws {
        try await withJobKitFixture("cli_show") { fixture in
            let job = try await fixture.job(in: .failed)
            let output = try await jobkit(fixture, "show", job.id.uuidString, "--json")
            #expect(output.status == 0, "\(output.text)")
            let detail = try object(output.stdout)
            let shown = try #require(detail["job"] as? [String: Any])
            #expect(shown["id"] as? String == job.id.uuidString.lowercased(), "lower-case ids, as the text output prints them")
            #expect(shown["status"] as? String == "failed")
            #expect(shown["error"] as? String == "factory failure")
            #expect((shown["payload"] as? [String: Any])?["image"] as? String == "cat.png", "the payload is JSON, not a string")
            let created = try #require(shown["createdAt"] as? String)
            #expect(ISO8601DateFormatter().date(from: created) != nil, "ISO-8601 dates, not \(created)")
            let history = try #require(detail["history"] as? [[String: Any]])
            #expect(history.compactMap { $0["kind"] as? String } == ["failed"])
            #expect(topLevelKeys(output.stdout) == ["history", "job"])

            let text = try await jobkit(fixture, "show", job.id.uuidString)
            #expect(text.status == 0)
            #expect(text.stdout.contains("thumbnail  failed"))
            #expect(text.stdout.contains("error: factory failure"))
        }
    }

    // MARK: - Stats and health

    @Test func statsJSONCountsJobsPerStatusQueueAndType() async throws {
        try await withJobKitFixture("cli_stats") { fixture in
            _ = try await fixture.job(in: .scheduled)
            _ = try await fixture.job(in: .done)
            _ = try await fixture.job(in: .failed, type: "ocr")

            let output = try await jobkit(fixture, "stats", "--json", "--window", "2h")
            #expect(output.status == 0, "\(output.text)")
            let stats = try object(output.stdout)
            #expect(stats["total"] as? Int == 3)
            let byStatus = try #require(stats["byStatus"] as? [String: Int])
            #expect(byStatus == ["scheduled": 1, "in_progress": 0, "done": 1, "failed": 1, "cancelled": 0])
            #expect((stats["byType"] as? [String: [String: Int]])?["ocr"] == ["failed": 1])
            #expect((stats["byQueue"] as? [String: [String: Int]])?["default"]?["done"] == 1)
            #expect(stats["windowSeconds"] as? Double == 7200)
            #expect(stats["finishedLastMinute"] as? Int == 2)
            for key in ["stuck", "leased"] { #expect(stats[key] as? Int == 0, "\(key)") }
            let keys = topLevelKeys(output.stdout)
            #expect(keys == keys.sorted(), "sorted keys")
        }
    }

    @Test func healthExitsZeroWhenHealthyAndSixAfterMigratingDown() async throws {
        try await withJobKitFixture("cli_health") { fixture in
            let healthy = try await jobkit(fixture, "health", "--json")
            #expect(healthy.status == 0, "\(healthy.text)")
            let report = try object(healthy.stdout)
            #expect(report["healthy"] as? Bool == true)
            #expect(report["databaseReachable"] as? Bool == true)
            #expect(report["schemaVersion"] as? Int == Migration.all.map(\.version).max())
            #expect((report["problems"] as? [String])?.isEmpty == true)

            let down = try await jobkit(fixture, "migrate", "down")
            #expect(down.status == 0, "\(down.text)")

            let unhealthy = try await jobkit(fixture, "health", "--json")
            #expect(unhealthy.status == 6, "\(unhealthy.text)")
            let problems = try object(unhealthy.stdout)
            #expect(problems["healthy"] as? Bool == false)
            #expect((problems["problems"] as? [String])?.first?.contains("jobkit migrate") == true)

            let text = try await jobkit(fixture, "health")
            #expect(text.status == 6)
            #expect(text.stdout.hasPrefix("unhealthy"))
        }
    }

    // MARK: - Operator actions

    @Test func cancelExitsThreeForAnUnknownJobAndFourWhenItIsFinished() async throws {
        try await withJobKitFixture("cli_cancel") { fixture in
            let job = try await fixture.job(in: .scheduled)
            let cancelled = try await jobkit(fixture, "cancel", job.id.uuidString, "--reason", "not needed", "--actor", "tester")
            #expect(cancelled.status == 0, "\(cancelled.text)")
            #expect(try await fixture.jobs.job(job.id).status == .cancelled)
            #expect(try await fixture.jobs.history(of: job.id).last?.actor == "tester")

            let again = try await jobkit(fixture, "cancel", job.id.uuidString)
            #expect(again.status == 4, "\(again.text)")
            #expect(again.errorLines == ["Error: job \(job.id.uuidString.lowercased()) cannot move from cancelled to cancelled"])

            let unknown = UUID()
            let missing = try await jobkit(fixture, "cancel", unknown.uuidString)
            #expect(missing.status == 3, "\(missing.text)")
            #expect(missing.errorLines == ["Error: job \(unknown.uuidString.lowercased()) does not exist"])
            #expect(missing.stdout.isEmpty)
        }
    }

    @Test func retrySendsAFailedJobBackAndRefusesOthers() async throws {
        try await withJobKitFixture("cli_retry") { fixture in
            let job = try await fixture.job(in: .failed)
            let retried = try await jobkit(fixture, "retry", job.id.uuidString)
            #expect(retried.status == 0, "\(retried.text)")
            #expect(retried.stdout.contains("attempt 2 of 2"))
            #expect(try await fixture.jobs.job(job.id).status == .scheduled)

            let again = try await jobkit(fixture, "retry", job.id.uuidString)
            #expect(again.status == 4, "\(again.text)")
            #expect(again.errorLines.count == 1)
            #expect(try await jobkit(fixture, "retry", UUID().uuidString).status == 3)
        }
    }

    @Test func forceFailFailsARunningJobAndNeedsAReason() async throws {
        try await withJobKitFixture("cli_force_fail") { fixture in
            let running = try await fixture.job(in: .inProgress)
            let noReason = try await jobkit(fixture, "force-fail", running.id.uuidString)
            #expect(noReason.status == 2, "a usage error: \(noReason.text)")
            #expect(try await fixture.jobs.job(running.id).status == .inProgress)

            let failed = try await jobkit(fixture, "force-fail", running.id.uuidString, "--reason", "stuck on page 3", "--actor", "tester")
            #expect(failed.status == 0, "\(failed.text)")
            let row = try await fixture.jobs.job(running.id)
            #expect(row.status == .failed)
            #expect(row.errorMessage == "forced: stuck on page 3")
            let event = try #require(try await fixture.jobs.history(of: running.id).last)
            #expect(event.kind == "force_failed")
            #expect(event.actor == "tester")

            let scheduled = try await fixture.job(in: .scheduled)
            let illegal = try await jobkit(fixture, "force-fail", scheduled.id.uuidString, "--reason", "no")
            #expect(illegal.status == 4, "\(illegal.text)")
            #expect(illegal.errorLines == ["Error: job \(scheduled.id.uuidString.lowercased()) cannot move from scheduled to failed"])
            #expect(try await fixture.jobs.job(scheduled.id).status == .scheduled)
        }
    }

    @Test func forceResetSchedulesAFailedJobAgainAndRefusesADoneOne() async throws {
        try await withJobKitFixture("cli_force_reset") { fixture in
            let failed = try await fixture.job(in: .failed)
            let reset = try await jobkit(fixture, "force-reset", failed.id.uuidString, "--reason", "dependency fixed")
            #expect(reset.status == 0, "\(reset.text)")
            #expect(try await fixture.jobs.job(failed.id).status == .scheduled)
            #expect(try await fixture.jobs.history(of: failed.id).last?.kind == "force_reset")

            let done = try await fixture.job(in: .done)
            let illegal = try await jobkit(fixture, "force-reset", done.id.uuidString, "--reason", "again")
            #expect(illegal.status == 4, "\(illegal.text)")
            #expect(illegal.errorLines.count == 1)
            #expect(try await jobkit(fixture, "force-reset", UUID().uuidString, "--reason", "x").status == 3)
            #expect(try await jobkit(fixture, "force-reset", done.id.uuidString, "--reason", "").status == 2)
        }
    }

    // MARK: - Maintenance

    @Test func cleanupDeletesOldFinishedJobsOfTheStatusesAsked() async throws {
        try await withJobKitFixture("cli_cleanup") { fixture in
            let oldDone = [try await fixture.job(in: .done).id, try await fixture.job(in: .done).id]
            let oldFailed = try await fixture.job(in: .failed).id
            let recentDone = try await fixture.job(in: .done).id
            try await fixture.backdate(oldDone + [oldFailed], by: .seconds(10 * 86_400))

            let doneOnly = try await jobkit(fixture, "cleanup", "--older-than", "7d", "--status", "done")
            #expect(doneOnly.status == 0, "\(doneOnly.text)")
            #expect(doneOnly.stdout.hasPrefix("Deleted 2 jobs"))
            #expect(try await fixture.count("jobs") == 2)

            let all = try await jobkit(fixture, "cleanup", "--older-than", "168h")
            #expect(all.status == 0, "\(all.text)")
            #expect(all.stdout.hasPrefix("Deleted 1 job "))
            let left = try await fixture.jobs.list().jobs.map(\.id)
            #expect(left == [recentDone])

            #expect(try await jobkit(fixture, "cleanup", "--older-than", "7 days").status == 2)
            #expect(try await jobkit(fixture, "cleanup", "--older-than", "7d", "--status", "scheduled").status == 2)
        }
    }

    @Test func recoverReschedulesAJobWhoseLeaseExpired() async throws {
        try await withJobKitFixture("cli_recover") { fixture in
            let stuck = try await fixture.job(in: .inProgress, options: .init(maxAttempts: 3))
            let alive = try await fixture.job(in: .inProgress)
            try await fixture.pool.query("""
                UPDATE jobkit.jobs SET lease_expires_at = now() - interval '1 minute' WHERE id = \(stuck.id)
                """)

            let output = try await jobkit(fixture, "recover")
            #expect(output.status == 0, "\(output.text)")
            #expect(output.stdout.contains("Recovered 1 job: 1 rescheduled"))
            #expect(try await fixture.jobs.job(stuck.id).status == .scheduled)
            #expect(try await fixture.jobs.job(alive.id).status == .inProgress, "a live lease is never touched")
        }
    }

    @Test func recoverAppliesAPolicyPerTypeAndRefusesAMalformedOne() async throws {
        try await withJobKitFixture("cli_recover_policy") { fixture in
            let invoice = try await fixture.job(in: .inProgress, type: "invoice", options: .init(maxAttempts: 3))
            let other = try await fixture.job(in: .inProgress, type: "thumbnail", options: .init(maxAttempts: 3))
            try await fixture.pool.query("UPDATE jobkit.jobs SET lease_expires_at = now() - interval '1 minute'")

            for bad in ["invoice", "invoice=never", "=fail"] {
                let refused = try await jobkit(fixture, "recover", "--policy", bad)
                #expect(refused.status == 2, "\(bad): \(refused.text)")
            }
            #expect(try await fixture.jobs.job(invoice.id).status == .inProgress, "a refused command changes nothing")

            let output = try await jobkit(fixture, "recover", "--policy", "invoice=fail")
            #expect(output.status == 0, "\(output.text)")
            #expect(output.stdout.contains("Recovered 2 jobs: 1 rescheduled, 1 failed"), "\(output.stdout)")
            #expect(try await fixture.jobs.job(invoice.id).status == .failed)
            #expect(try await fixture.jobs.job(other.id).status == .scheduled)
        }
    }

    @Test func validateFindsAnIssueAndFixFixesIt() async throws {
        try await withJobKitFixture("cli_validate") { fixture in
            let job = try await fixture.job(in: .done)
            // A done job below 100%: the schema's constraints allow it, validation does not.
            try await fixture.pool.query("UPDATE jobkit.jobs SET progress = 60 WHERE id = \(job.id)")

            let found = try await jobkit(fixture, "validate", job.id.uuidString, "--json")
            #expect(found.status == 0, "\(found.text)")
            let report = try object(found.stdout)
            let issues = try #require(report["issues"] as? [[String: Any]])
            #expect(issues.count == 1)
            #expect(issues.first?["code"] as? String == "done_below_100")
            #expect(issues.first?["isFixable"] as? Bool == true)
            #expect(issues.first?["jobID"] as? String == job.id.uuidString.lowercased())
            #expect(report["fixed"] as? Int == 0)
            #expect(try await fixture.jobs.job(job.id).progress == 60, "no fix without --fix")

            let fixed = try await jobkit(fixture, "validate", job.id.uuidString, "--fix")
            #expect(fixed.status == 0, "\(fixed.text)")
            #expect(fixed.stdout.contains("Fixed 1 of 1."))
            #expect(try await fixture.jobs.job(job.id).progress == 100)

            let all = try await jobkit(fixture, "validate", "--json")
            #expect(try #require(try object(all.stdout)["issues"] as? [Any]).isEmpty)
            #expect(try await jobkit(fixture, "validate").stdout == "No issues.\n")
            #expect(try await jobkit(fixture, "validate", UUID().uuidString).status == 3)
        }
    }

    // MARK: - Watch

    @Test func watchDrawsProgressAndEndsWhenTheJobEnds() async throws {
        try await withJobKitFixture("cli_watch") { fixture in
            let job = try await fixture.jobs.create("ocr")
            let watch = try CLI.start(["watch", job.id.uuidString, "--database-url", fixture.configuration.connectionString])
            defer { watch.kill() }
            try await watch.waitForOutput(containing: "scheduled")

            let lease = try #require(try await fixture.jobs.start(job.id).lease?.token)
            try await watch.waitForOutput(containing: "in_progress")
            try await fixture.jobs.reportProgress(job.id, percent: 40, step: "page 2", lease: lease)
            try await watch.waitForOutput(containing: "40%")
            try await fixture.jobs.reportProgress(job.id, percent: 80, step: "page 4", lease: lease)
            try await watch.waitForOutput(containing: "80%")
            try await fixture.jobs.complete(job.id, result: ["words": 1000], lease: lease)

            let output = try await watch.waitForExit(timeout: .seconds(30))
            #expect(output.status == 0, "\(output.text)")
            let lines = output.stdout.split(separator: "\n")
            #expect(lines.contains { $0.hasPrefix("[############") && $0.contains("40%  in_progress  page 2") })
            #expect(lines.contains { $0.contains("80%  in_progress  page 4") })
            #expect(lines.last?.hasPrefix("[\(String(repeating: "#", count: 30))] 100%  done") == true)
            #expect(output.stderr.isEmpty)
        }
    }

    @Test func watchExitsThreeForAnUnknownJob() async throws {
        try await withJobKitFixture("cli_watch_unknown") { fixture in
            let output = try await jobkit(fixture, "watch", UUID().uuidString)
            #expect(output.status == 3, "\(output.text)")
            #expect(output.errorLines.count == 1)
        }
    }

    // MARK: - Serve

    @Test func serveAnswersTheAdminAPIRunsMaintenanceAndStopsOnSIGTERM() async throws {
        try await withJobKitFixture("cli_serve") { fixture in
            _ = try await fixture.job(in: .done)
            let serve = try CLI.start([
                "serve", "--port", "0", "--token", "secret", "--maintenance-interval", "1s", "--log-level", "warning",
                "--database-url", fixture.configuration.connectionString,
            ])
            defer { serve.kill() }
            let prefix = "Admin server listening on http://127.0.0.1:"
            try await serve.waitForOutput(containing: "/admin/")
            let line = try #require(serve.stdout.split(separator: "\n").first { $0.hasPrefix(prefix) })
            let port = try #require(Int(line.dropFirst(prefix.count).prefix { $0.isNumber }))

            let (status, body) = try await httpGet("http://127.0.0.1:\(port)/admin/stats", token: "secret")
            #expect(status == 200, "\(body)")
            #expect(try object(body)["total"] as? Int == 1)
            #expect(try await httpGet("http://127.0.0.1:\(port)/admin/stats", token: nil).status == 401)

            // Maintenance runs within the process: health sees its record.
            try await pollUntil("a maintenance run recorded", timeout: .seconds(30)) {
                let health = try await jobkit(fixture, "health", "--json")
                return try object(health.stdout)["lastMaintenance"] != nil
            }

            serve.terminate()
            let output = try await serve.waitForExit(timeout: .seconds(30))
            #expect(output.status == 0, "a graceful shutdown: \(output.text)")
        }
    }

    @Test func serveRefusesToRunWithoutAToken() async throws {
        let output = try await CLI.run(["serve", "--port", "0", "--database-url", "postgresql://postgres@127.0.0.1:1/postgres"], environment: ["JOBKIT_ADMIN_TOKEN": ""])
        #expect(output.status == 2, "\(output.text)")
        #expect(output.errorLines.count == 1, "\(output.stderr)")
        #expect(output.stderr.contains("JOBKIT_ADMIN_TOKEN"))
    }

    // MARK: - Connections and usage

    @Test func anUnreachableDatabaseExitsFiveWithOneLine() async throws {
        // Nothing listens on port 1: the connection is refused at once.
        let url = "postgresql://postgres@127.0.0.1:1/postgres?connect_timeout=5"
        for command in [["list"], ["show", UUID().uuidString], ["health"], ["cancel", UUID().uuidString]] {
            let output = try await CLI.run(command + ["--database-url", url])
            #expect(output.status == 5, "\(command): \(output.text)")
            #expect(output.errorLines.count == 1, "\(command): \(output.stderr)")
            #expect(output.stderr.hasPrefix("Error: "), "\(command)")
            #expect(output.stderr.contains("127.0.0.1"), "\(command)")
        }
    }

    @Test func theDatabaseURLComesFromTheEnvironmentWithoutTheOption() async throws {
        try await withJobKitFixture("cli_env") { fixture in
            _ = try await fixture.job(in: .done)
            let output = try await CLI.run(["stats", "--json"], environment: ["DATABASE_URL": fixture.configuration.connectionString])
            #expect(output.status == 0, "\(output.text)")
            #expect(try object(output.stdout)["total"] as? Int == 1)
        }
    }

    @Test func usageErrorsExitTwo() async throws {
        let url = "postgresql://postgres@127.0.0.1:1/postgres"
        for command in [
            ["list", "--limit", "0"], ["list", "--status", "sleeping"], ["show", "not-an-id"], ["frobnicate"],
            ["stats", "--schema", "Bad-Name"], ["cleanup"],
        ] {
            let output = try await CLI.run(command + ["--database-url", url])
            #expect(output.status == 2, "\(command): \(output.text)")
            #expect(output.stderr.hasPrefix("Error: "), "\(command): \(output.stderr)")
        }
        let help = try await CLI.run(["--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("6  unhealthy"))
    }

    // MARK: - Queues

    @Test func pauseResumeAndLimitAQueueThenListIt() async throws {
        try await withJobKitFixture("cli_queues") { fixture in
            _ = try await fixture.jobs.create("resize", options: .init(queue: "images"))

            let pause = try await jobkit(fixture, "pause", "images")
            #expect(pause.status == 0, "\(pause.text)")
            let limit = try await jobkit(fixture, "limit", "images", "--concurrency", "4", "--per-key", "1", "--rate", "100", "--period-seconds", "60")
            #expect(limit.status == 0, "\(limit.text)")
            let table = try await jobkit(fixture, "queues")
            #expect(table.status == 0, "\(table.text)")
            let row = try #require(table.stdout.split(separator: "\n").first { $0.hasPrefix("images") })
            #expect(row.contains("paused") && row.contains("100 per 60.0 seconds"), "\(table.stdout)")
            let state = try #require(try await fixture.jobs.queues().first { $0.name == "images" })
            #expect(state.isPaused && state.scheduled == 1)
            #expect(state.settings == QueueSettings(concurrencyLimit: 4, keyLimit: 1, rateLimit: .init(100, per: .seconds(60))))

            let resume = try await jobkit(fixture, "resume", "images")
            #expect(resume.status == 0, "\(resume.text)")
            let json = try await jobkit(fixture, "queues", "--json")
            #expect(json.status == 0 && json.stdout.contains(#""name" : "images""#), "\(json.text)")
            #expect(try await fixture.jobs.queues().first { $0.name == "images" }?.isPaused == false)

            let bad = try await jobkit(fixture, "limit", "images", "--per-key", "0")
            #expect(bad.status == 2, "\(bad.text)")
            #expect(try await fixture.jobs.queues().first { $0.name == "images" }?.settings.keyLimit == 1)
        }
    }

    // MARK: - Helpers

    /// Runs `jobkit` with `arguments` against the fixture's database.
    private func jobkit(_ fixture: JobKitFixture, _ arguments: String...) async throws -> CLI.Output {
        try await self.jobkit(fixture, arguments)
    }

    private func jobkit(_ fixture: JobKitFixture, _ arguments: [String]) async throws -> CLI.Output {
        try await CLI.run(arguments + ["--database-url", fixture.configuration.connectionString])
    }
}

/// GETs `url`, with a bearer token if given: the status and the body.
private func httpGet(_ url: String, token: String?) async throws -> (status: Int, body: String) {
    var request = URLRequest(url: try #require(URL(string: url)))
    if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
    let (data, response) = try await URLSession.shared.data(for: request)
    return (try #require(response as? HTTPURLResponse).statusCode, String(decoding: data, as: UTF8.self))
}

/// Parses a JSON object.
private func object(_ text: String) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "not a JSON object: \(text)")
}

/// The keys of a pretty-printed JSON object's top level, in the order printed.
private func topLevelKeys(_ text: String) -> [String] {
    text.split(separator: "\n").compactMap { line in
        guard line.hasPrefix("  \""), !line.hasPrefix("   ") else { return nil }
        return line.dropFirst(3).split(separator: "\"").first.map(String.init)
    }
}
