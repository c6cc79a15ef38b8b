import Foundation
import JobKit
import LibPQ
import Testing

/// Periodic schedules against a real database: registering, listing, one pass of the
/// scheduler at a pinned time (due, missed, skipped, backfilled ticks), and schedulers racing.
@Suite(.timeLimit(.minutes(3)))
struct SchedulerTests {
    /// The job every test schedule enqueues; nothing runs it here.
    struct Report: JobHandler {
        struct Payload: Codable, Sendable, Equatable { var kind: String }
        static let type = "report"
        static let retryPolicy = RetryPolicy(maxAttempts: 3)
        func run(_ payload: Payload, context: JobContext) async throws -> EmptyPayload { EmptyPayload() }
    }

    static let berlin = TimeZone(identifier: "Europe/Berlin")!
    /// 2030-03-17T17:46:40Z, a multiple of 10 seconds.
    static let t0 = Date(timeIntervalSince1970: 1_900_000_000)
    static func at(_ seconds: Double) -> Date { Self.t0.addingTimeInterval(seconds) }

    static func everyTenSeconds(_ name: String = "ten", missed: JobSchedule.MissedTickPolicy = .skip) throws -> JobSchedule {
        try JobSchedule(
            name, Report.self, payload: .init(kind: "ten"), cron: "*/10 * * * * *",
            options: .init(queue: "reports", priority: 3), missedTicks: missed)
    }

    /// The jobs of `type`, oldest tick first.
    static func ticks(_ fixture: JobKitFixture, type: String = "report") async throws -> [Job] {
        try await fixture.jobs.list(.init(types: [type]), limit: 1000).jobs.sorted { $0.runAt < $1.runAt }
    }

    // MARK: - Registering and listing

    @Test func registeredSchedulesAreListedWithTheirNextTicks() async throws {
        try await withJobKitFixture("sched_list") { fixture in
            let nightly = try JobSchedule(
                "nightly", Report.self, payload: .init(kind: "nightly"), cron: "0 3 * * *", timeZone: Self.berlin,
                missedTicks: .backfill(limit: 2))
            let heartbeat = try JobSchedule("heartbeat", jobType: "ping", timing: .every(.seconds(30)))
            try await fixture.jobs.registerSchedules([nightly, heartbeat], at: Self.t0)

            let listed = try await fixture.jobs.schedules()
            #expect(listed.map(\.name) == ["heartbeat", "nightly"])
            let beat = try #require(listed.first)
            #expect(beat.jobType == "ping")
            #expect(beat.queue == "default")
            #expect(beat.expression == "@every 30s")
            #expect(beat.kind == "interval")
            #expect(beat.missedTicks == "skip")
            #expect(beat.backfillLimit == nil)
            #expect(beat.nextTickAt == Self.at(20))
            #expect(beat.lastTickAt == nil)
            #expect(beat.registeredBy == "worker-main")
            let night = try #require(listed.last)
            #expect(night.expression == "0 3 * * *")
            #expect(night.kind == "cron")
            #expect(night.timeZone == "Europe/Berlin")
            #expect(night.missedTicks == "backfill")
            #expect(night.backfillLimit == 2)
            // 2030-03-18 03:00 CET is 02:00Z.
            #expect(night.nextTickAt == Date(timeIntervalSince1970: 1_900_029_600))

            #expect(try await fixture.jobs.stats().schedules == 2)
        }
    }

    @Test func registeringAgainKeepsTheTicksUnlessTheTimingChanged() async throws {
        try await withJobKitFixture("sched_reregister") { fixture in
            try await fixture.jobs.registerSchedules([try Self.everyTenSeconds()], at: Self.t0)
            let other = fixture.makeService(workerID: "worker-other")
            // Another process, later, with the same definition: nothing changes.
            try await other.registerSchedules([try Self.everyTenSeconds()], at: Self.at(100))
            var listed = try #require(try await fixture.jobs.schedules().onlyElement)
            #expect(listed.nextTickAt == Self.at(10))
            #expect(listed.registeredBy == "worker-main")

            // A new payload: the pending tick stays.
            var changed = try Self.everyTenSeconds()
            changed.payloadJSON = #"{"kind":"changed"}"#
            try await other.registerSchedules([changed], at: Self.at(100))
            listed = try #require(try await fixture.jobs.schedules().onlyElement)
            #expect(listed.nextTickAt == Self.at(10))
            #expect(listed.registeredBy == "worker-other")

            // A new expression: ticks start again after the registration.
            changed.timing = .cron(try CronExpression("0 * * * * *"))
            try await other.registerSchedules([changed], at: Self.at(100))
            listed = try #require(try await fixture.jobs.schedules().onlyElement)
            #expect(listed.expression == "0 * * * * *")
            #expect(listed.nextTickAt == Self.at(140))
        }
    }

    @Test func twoSchedulesOfOneNameAreRefusedBeforeAnySQL() async throws {
        try await withJobKitFixture("sched_duplicate") { fixture in
            let error = try await #require(throws: ScheduleError.self) {
                try await fixture.jobs.registerSchedules([try Self.everyTenSeconds(), try Self.everyTenSeconds()])
            }
            #expect(error.code == .invalidSchedule)
            #expect(error.scheduleName == "ten")
            #expect(try await fixture.count("schedules") == 0)
        }
    }

    @Test func aRemovedScheduleIsGoneAndAnUnknownOneIsNotFound() async throws {
        try await withJobKitFixture("sched_remove") { fixture in
            try await fixture.jobs.registerSchedules([try Self.everyTenSeconds()], at: Self.t0)
            try await fixture.jobs.removeSchedule(named: "ten")
            #expect(try await fixture.jobs.schedules().isEmpty)
            let error = try await #require(throws: ScheduleError.self) { try await fixture.jobs.removeSchedule(named: "ten") }
            #expect(error.code == .notFound)
            #expect(error.scheduleName == "ten")
        }
    }

    // MARK: - One pass at a pinned time

    @Test func aDueTickBecomesOneJobWithTheScheduleOptionsAndItsKey() async throws {
        try await withJobKitFixture("sched_due") { fixture in
            try await fixture.jobs.registerSchedules([try Self.everyTenSeconds()], at: Self.t0)
            let scheduler = JobScheduler(service: fixture.jobs)

            let early = try await scheduler.runOnce(at: Self.at(9.9))
            #expect(early.enqueued == 0)
            #expect(early.nextTickAt == Self.at(10))

            let report = try await scheduler.runOnce(at: Self.at(10.3))
            #expect(report.enqueued == 1)
            #expect(report.advanced == 1)
            #expect(report.nextTickAt == Self.at(20))
            let job = try #require(try await Self.ticks(fixture).onlyElement)
            #expect(job.type == "report")
            #expect(job.queue == "reports")
            #expect(job.priority == 3)
            #expect(job.maxAttempts == 3)
            #expect(job.runAt == Self.at(10))
            #expect(job.uniqueKey == "schedule:ten:2030-03-17T17:46:50Z")
            #expect(try job.payload(as: Report.Payload.self) == .init(kind: "ten"))
            #expect(try await fixture.jobs.job(uniqueKey: JobSchedule.uniqueKey(name: "ten", tick: Self.at(10)))?.id == job.id)

            let listed = try #require(try await fixture.jobs.schedules().onlyElement)
            #expect(listed.lastTickAt == Self.at(10))
            #expect(listed.nextTickAt == Self.at(20))
            #expect(listed.lastEnqueuedAt != nil)

            // The same pass again finds nothing due.
            #expect(try await scheduler.runOnce(at: Self.at(10.3)).enqueued == 0)
            #expect(try await Self.ticks(fixture).count == 1)
        }
    }

    @Test func missedTicksAreSkippedByDefault() async throws {
        try await withJobKitFixture("sched_skip") { fixture in
            try await fixture.jobs.registerSchedules([try Self.everyTenSeconds()], at: Self.t0)
            let scheduler = JobScheduler(service: fixture.jobs, configuration: .init(missedTickThreshold: .seconds(5)))
            #expect(try await scheduler.runOnce(at: Self.at(10.2)).enqueued == 1)

            // Every process was down from 11 s to 303 s: ticks 20…290 were missed, 300 is late but not missed.
            let report = try await scheduler.runOnce(at: Self.at(303))
            #expect(report.enqueued == 1)
            #expect(report.skipped == [.init(name: "ten", from: Self.at(20), until: Self.at(300))])
            #expect(try await Self.ticks(fixture).map(\.runAt) == [Self.at(10), Self.at(300)])
            #expect(try await fixture.jobs.schedules().first?.nextTickAt == Self.at(310))
        }
    }

    @Test func missedTicksAreBackfilledUpToTheLimit() async throws {
        try await withJobKitFixture("sched_backfill") { fixture in
            try await fixture.jobs.registerSchedules([try Self.everyTenSeconds(missed: .backfill(limit: 3))], at: Self.t0)
            let scheduler = JobScheduler(service: fixture.jobs, configuration: .init(missedTickThreshold: .seconds(5)))
            #expect(try await scheduler.runOnce(at: Self.at(10.2)).enqueued == 1)

            let report = try await scheduler.runOnce(at: Self.at(303))
            #expect(report.enqueued == 4)
            #expect(report.skipped == [.init(name: "ten", from: Self.at(20), until: Self.at(270))])
            let ticks = try await Self.ticks(fixture)
            #expect(ticks.map(\.runAt) == [10, 270, 280, 290, 300].map(Self.at))
            #expect(Set(ticks.compactMap(\.uniqueKey)).count == 5)
        }
    }

    @Test func ticksLateWithinTheThresholdAreEnqueuedWhateverThePolicy() async throws {
        try await withJobKitFixture("sched_late") { fixture in
            try await fixture.jobs.registerSchedules([try Self.everyTenSeconds()], at: Self.t0)
            let scheduler = JobScheduler(service: fixture.jobs)  // a threshold of one minute
            let report = try await scheduler.runOnce(at: Self.at(45))
            #expect(report.enqueued == 4)
            #expect(report.skipped.isEmpty)
            #expect(try await Self.ticks(fixture).map(\.runAt) == [10, 20, 30, 40].map(Self.at))
        }
    }

    @Test func aDefinitionThisProcessCannotReadIsLeftAlone() async throws {
        try await withJobKitFixture("sched_unreadable") { fixture in
            try await fixture.jobs.registerSchedules([try Self.everyTenSeconds()], at: Self.t0)
            try await fixture.pool.query("UPDATE jobkit.schedules SET time_zone = 'Mars/Olympus_Mons'")
            let report = try await JobScheduler(service: fixture.jobs).runOnce(at: Self.at(10.5))
            #expect(report.enqueued == 0)
            #expect(report.unreadable["ten"]?.contains("Mars/Olympus_Mons") == true)
            #expect(try await fixture.jobs.schedules().first?.nextTickAt == Self.at(10))
        }
    }

    // MARK: - Racing schedulers

    @Test func twoSchedulersPassingAtTheSameInstantEnqueueEachTickOnce() async throws {
        try await withJobKitFixture("sched_race_once") { fixture in
            let schedules = try (0..<20).map { try Self.everyTenSeconds("race-\($0)") }
            try await fixture.jobs.registerSchedules(schedules, at: Self.t0)
            let first = JobScheduler(service: fixture.makeService(workerID: "scheduler-a"))
            let second = JobScheduler(service: fixture.makeService(workerID: "scheduler-b"))
            for tick in stride(from: 10.0, through: 100, by: 10) {
                async let a = first.runOnce(at: Self.at(tick + 0.5))
                async let b = second.runOnce(at: Self.at(tick + 0.5))
                let (reportA, reportB) = try await (a, b)
                #expect(reportA.enqueued + reportB.enqueued == 20, "tick \(tick)")
                #expect(reportA.advanced + reportB.advanced == 20)
            }
            let jobs = try await Self.ticks(fixture)
            #expect(jobs.count == 200)
            #expect(Set(jobs.compactMap(\.uniqueKey)).count == 200)
            for schedule in schedules {
                let own = jobs.filter { $0.uniqueKey?.hasPrefix("schedule:\(schedule.name):") == true }.map(\.runAt)
                #expect(own == stride(from: 10.0, through: 100, by: 10).map(Self.at), "\(schedule.name)")
            }
        }
    }

    @Test func twoRunningSchedulersThatBothLeadEnqueueEveryTickOnce() async throws {
        try await withJobKitFixture("sched_race_run") { fixture in
            let schedule = try JobSchedule("every-second", Report.self, payload: .init(kind: "s"), cron: "* * * * * *")
            let configuration = JobScheduler.Configuration(pollInterval: .milliseconds(200), electsLeader: false)
            let first = JobScheduler(service: fixture.makeService(workerID: "a"), schedules: [schedule], configuration: configuration)
            let second = JobScheduler(service: fixture.makeService(workerID: "b"), schedules: [schedule], configuration: configuration)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await first.run() }
                group.addTask { try await second.run() }
                try await pollUntil("six ticks enqueued", timeout: .seconds(30)) { try await Self.ticks(fixture).count >= 6 }
                #expect(first.isLeader && second.isLeader)
                group.cancelAll()
            }
            let ticks = try await Self.ticks(fixture).map(\.runAt)
            #expect(Set(ticks).count == ticks.count)
            for (earlier, later) in zip(ticks, ticks.dropFirst()) {
                #expect(later.timeIntervalSince(earlier) == 1)
            }
        }
    }

    @Test func oneOfTwoElectingSchedulersLeadsAndTheOtherTakesOverWhenItStops() async throws {
        try await withJobKitFixture("sched_elect") { fixture in
            let schedule = try JobSchedule("every-second", Report.self, payload: .init(kind: "s"), cron: "* * * * * *")
            let configuration = JobScheduler.Configuration(pollInterval: .milliseconds(100))
            let first = JobScheduler(service: fixture.makeService(workerID: "a"), schedules: [schedule], configuration: configuration)
            let second = JobScheduler(service: fixture.makeService(workerID: "b"), schedules: [schedule], configuration: configuration)
            let runs = [Task { try await first.run() }, Task { try await second.run() }]
            defer { runs.forEach { $0.cancel() } }
            try await pollUntil("one to lead") { first.isLeader || second.isLeader }
            #expect(first.isLeader != second.isLeader)
            let (leader, follower, leaderRun) = first.isLeader ? (first, second, runs[0]) : (second, first, runs[1])
            try await pollUntil("two ticks enqueued") { try await Self.ticks(fixture).count >= 2 }
            #expect(!follower.isLeader)

            leaderRun.cancel()
            try? await leaderRun.value
            #expect(!leader.isLeader)
            try await pollUntil("the other to lead") { follower.isLeader }
            let before = try await Self.ticks(fixture).count
            try await pollUntil("the new leader to enqueue") { try await Self.ticks(fixture).count >= before + 2 }
            let ticks = try await Self.ticks(fixture).map(\.runAt)
            #expect(Set(ticks).count == ticks.count)
            for (earlier, later) in zip(ticks, ticks.dropFirst()) {
                #expect(later.timeIntervalSince(earlier) == 1, "no tick lost in the hand-over")
            }
            for run in runs {
                run.cancel()
                try? await run.value
            }
        }
    }

    // MARK: - Bad schedules

    @Test func badSchedulesThrowBeforeAnySQL() throws {
        func code(_ make: () throws -> JobSchedule) -> ScheduleError.Code? {
            do {
                _ = try make()
                return nil
            } catch let error as ScheduleError {
                return error.code
            } catch {
                return nil
            }
        }
        #expect(code { try JobSchedule("", Report.self, payload: .init(kind: ""), cron: "* * * * *") } == .invalidSchedule)
        #expect(code { try JobSchedule("x", Report.self, payload: .init(kind: ""), cron: "* * * *") } == .invalidExpression)
        #expect(code { try JobSchedule("x", Report.self, payload: .init(kind: ""), every: .milliseconds(500)) } == .invalidSchedule)
        #expect(code { try JobSchedule("x", Report.self, payload: .init(kind: ""), every: .seconds(0)) } == .invalidSchedule)
        #expect(code { try JobSchedule("x", Report.self, payload: .init(kind: ""), cron: "* * * * *", missedTicks: .backfill(limit: 0)) } == .invalidSchedule)
        #expect(code { try JobSchedule("x", Report.self, payload: .init(kind: ""), cron: "* * * * *", options: .init(uniqueKey: "k")) } == .invalidSchedule)
        #expect(code { try JobSchedule("x", Report.self, payload: .init(kind: ""), cron: "* * * * *", options: .init(runAt: .now)) } == .invalidSchedule)
        #expect(code { try JobSchedule("x", Report.self, payload: .init(kind: ""), cron: "* * * * *", options: .init(queue: "")) } == .invalidSchedule)
        #expect(code { try JobSchedule("x", jobType: "t", payloadJSON: "{not json", timing: .every(.seconds(1))) } == .invalidSchedule)
        let error = try #require(throws: ScheduleError.self) {
            try JobSchedule("x", Report.self, payload: .init(kind: ""), every: .milliseconds(1500))
        }
        #expect(error.scheduleName == "x")
        #expect(error.description == "schedule \"x\": the interval must be a whole number of seconds, at least 1, not 1.5 seconds")
    }
}
