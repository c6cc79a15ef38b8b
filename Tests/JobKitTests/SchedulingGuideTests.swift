import Foundation
import JobKit
import Logging
import ServiceLifecycle
import Testing

/// The Swift samples of Documentation/Scheduling.md, verbatim (less their imports), so that
/// they compile with the tests; ``SchedulingGuideTests`` checks that the guide still shows
/// exactly these.
struct SchedulingGuide {

    struct SendReport: JobHandler {
        struct Payload: Codable, Sendable { var kind: String }
        static let type = "send-report"
        func run(_ payload: Payload, context: JobContext) async throws -> EmptyPayload {
            context.logger.info("Sending the \(payload.kind) report")
            return EmptyPayload()
        }
    }

    func makeSchedules() throws -> [JobSchedule] {
        let berlin = TimeZone(identifier: "Europe/Berlin") ?? .gmt
        return [
            // 03:00 every night, Berlin time; after downtime, enqueue at most the two latest missed nights.
            try JobSchedule(
                "nightly-report", SendReport.self, payload: .init(kind: "nightly"),
                cron: "0 3 * * *", timeZone: berlin, missedTicks: .backfill(limit: 2)),
            // Every 15 minutes on weekdays between 08:00 and 18:59, on its own queue.
            try JobSchedule(
                "office-hours", SendReport.self, payload: .init(kind: "quarter-hourly"),
                cron: "*/15 8-18 * * MON-FRI", timeZone: berlin, options: .init(queue: "reports")),
            // Six fields: seconds first. Every ten seconds.
            try JobSchedule("pulse", SendReport.self, payload: .init(kind: "pulse"), cron: "*/10 * * * * *"),
            // A fixed interval: ticks fall on multiples of 30 s since 1970 (UTC), whoever computes them.
            try JobSchedule("heartbeat", SendReport.self, payload: .init(kind: "heartbeat"), every: .seconds(30)),
        ]
    }

    func checkExpression() {
        do {
            _ = try CronExpression("0 25 * * *")
        } catch {
            // invalid cron expression "0 25 * * *": the hour field "25" is out of range 0-23
            print(error.description, error.field == .hour)
        }
    }

    func lastNightsJob(_ jobs: JobService, tick: Date) async throws -> Job? {
        try await jobs.job(uniqueKey: JobSchedule.uniqueKey(name: "nightly-report", tick: tick))
    }


    func runWorker(jobs: JobService, logger: Logger) async throws {
        let executor = JobExecutor(service: jobs, handlers: [SendReport()], configuration: .init(queues: ["default", "reports"]))
        let scheduler = JobScheduler(service: jobs, schedules: try makeSchedules(), logger: logger)
        let group = ServiceGroup(services: [jobs, executor, scheduler], gracefulShutdownSignals: [.sigterm], logger: logger)
        try await group.run()
    }

    func catchUp(_ jobs: JobService) async throws {
        let scheduler = JobScheduler(service: jobs, configuration: .init(missedTickThreshold: .seconds(30)))
        let report = try await scheduler.runOnce()
        for skip in report.skipped {
            print("\(skip.name): ticks from \(skip.from) until \(skip.until) were left out")
        }
        print("\(report.enqueued) jobs enqueued; next tick at \(report.nextTickAt.map { "\($0)" } ?? "never")")
    }

    func printSchedules(_ jobs: JobService) async throws {
        for schedule in try await jobs.schedules() {
            print(schedule.name, schedule.expression, schedule.timeZone, schedule.nextTickAt.map { "\($0)" } ?? "-")
        }
        print("\(try await jobs.stats().schedules) schedules")
    }
}

@Suite
struct SchedulingGuideTests {
    static let guide = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Documentation/Scheduling.md")

    /// Lines without their indentation, blank lines and imports dropped.
    static func normalized(_ text: Substring) -> [Substring] {
        text.split(separator: "\n").map { $0.drop { $0 == " " } }.filter { !$0.isEmpty && !$0.hasPrefix("import ") }
    }

    @Test func everySwiftSampleOfTheGuideIsCompiledHere() throws {
        let guide = try String(contentsOf: Self.guide, encoding: .utf8)
        let source = try String(contentsOf: URL(fileURLWithPath: #filePath), encoding: .utf8)
        let compiled = Self.normalized(source[...])
        let samples = guide.components(separatedBy: "```swift\n").dropFirst().compactMap { $0.components(separatedBy: "```").first }
        #expect(samples.count == 6)
        for sample in samples {
            let lines = Self.normalized(sample[...])
            let found = compiled.indices.contains { start in
                start + lines.count <= compiled.count && Array(compiled[start..<(start + lines.count)]) == lines
            }
            #expect(found, "not compiled in SchedulingGuideTests.swift:\n\(sample)")
        }
    }

    @Test func theSampleSchedulesAreValid() throws {
        #expect(try SchedulingGuide().makeSchedules().map(\.name) == ["nightly-report", "office-hours", "pulse", "heartbeat"])
    }
}
