import Foundation
import JobKit
import LibPQ
import Testing

/// Three `jobkit-test-worker --mode schedule` processes run the same every-second schedule
/// (`mp-tick`, jobs of type `mp.tick`) and executors for its jobs: each tick must become
/// exactly one job, none missing, whether one process leads, all three believe they lead, or
/// the leader is killed halfway.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct ScheduleMultiProcessTests {
    /// A tick's job as stored.
    struct TickJob {
        var id: UUID
        /// The tick, as its unique key names it.
        var tick: Date
        var runAt: Date
        var uniqueKey: String
        var status: String
        /// Taken back from a killed worker (rescued) or at a shutdown (released): that moved its
        /// run-at to the time it was taken back.
        var wasTakenBack: Bool
    }

    @Test func threeProcessesEnqueueTenTicksAsExactlyTenJobs() async throws {
        try await withJobKitFixture("mp_schedule") { try await Self.tenTicks($0, extra: []) }
    }

    @Test func threeProcessesThatAllBelieveTheyLeadStillEnqueueEachTickOnce() async throws {
        try await withJobKitFixture("mp_schedule_race") { try await Self.tenTicks($0, extra: ["--no-leader-election"]) }
    }

    @Test func killingTheLeaderHalfwayLosesNoTick() async throws {
        try await withJobKitFixture("mp_schedule_kill") { try await Self.tenTicks($0, extra: [], killsLeaderAfter: 4) }
    }

    /// Starts three schedule workers, watches ten consecutive ticks that begin two seconds after
    /// they are all ready, stops them, and checks every tick's job.
    static func tenTicks(_ fixture: JobKitFixture, extra: [String], killsLeaderAfter killAfter: Int? = nil) async throws {
        try await MultiProcessTests.createRunsTable(fixture)
        // A function of its own, not a closure that captures and sets a variable: that crashes
        // Swift 6.3.1's region-isolation checker (SendNonSendable, signal 6).
        let (first, last) = try await withWorkerProcesses { workers in
            try await Self.runWorkers(workers, fixture, extra: extra, killsLeaderAfter: killAfter)
        }

        // Every process has stopped: nothing can be enqueued any more.
        let jobs = try await Self.jobs(fixture)
        let inWindow = jobs.filter { $0.tick >= first && $0.tick <= last }
        #expect(inWindow.count == 10, "jobs in the window: \(inWindow.map(\.tick))")
        #expect(inWindow.map(\.tick) == (0..<10).map { first.addingTimeInterval(Double($0)) })
        #expect(inWindow.allSatisfy { $0.status == "done" })
        // No tick twice, none missing, from the first tick to the last.
        let ticks = jobs.map(\.tick)
        #expect(Set(ticks).count == ticks.count, "a tick was enqueued twice")
        for (earlier, later) in zip(ticks, ticks.dropFirst()) {
            #expect(later.timeIntervalSince(earlier) == 1, "ticks \(earlier) and \(later) are not one second apart")
        }
        #expect(jobs.allSatisfy { $0.uniqueKey == JobSchedule.uniqueKey(name: "mp-tick", tick: $0.tick) })
        // Each job runs at its tick, unless it was taken back from a worker.
        #expect(jobs.allSatisfy { $0.wasTakenBack ? $0.runAt >= $0.tick : $0.runAt == $0.tick }, "\(jobs.map { ($0.tick, $0.runAt, $0.wasTakenBack) })")

        // Each job of the window ran; only a killed worker's run may have been repeated.
        let runs = try await fixture.pool.query("SELECT job_id, worker_id FROM mp_runs").map { try $0.decode((UUID, String).self) }
        for job in inWindow {
            let runners = runs.filter { $0.0 == job.id }.map(\.1)
            #expect(!runners.isEmpty, "the job of \(job.tick) never ran")
            if killAfter == nil {
                #expect(runners.count == 1, "the job of \(job.tick) ran \(runners.count) times")
            }
        }

        let schedule = try #require(try await fixture.jobs.schedules().onlyElement)
        #expect(schedule.name == "mp-tick")
        #expect(schedule.jobType == "mp.tick")
        #expect(schedule.expression == "* * * * * *")
        #expect(try #require(schedule.lastTickAt) >= last)
    }

    /// Starts the three workers, waits for the ten ticks of the window to be done (killing the
    /// leader after `killAfter` of them), stops the others, and returns the window.
    static func runWorkers(
        _ workers: WorkerProcesses, _ fixture: JobKitFixture, extra: [String], killsLeaderAfter killAfter: Int?
    ) async throws -> (first: Date, last: Date) {
        let processes = try ["s1", "s2", "s3"].map { name in
            try workers.start(name: name, arguments: MultiProcessTests.arguments(
                fixture, workerID: name, mode: "schedule", concurrency: 2,
                ["--poll-ms", "200", "--scheduler-poll-ms", "200", "--rescue-ms", "300"] + extra))
        }
        for process in processes { try await process.waitUntilReady() }
        let now = try await fixture.databaseNow()
        let first = Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down) + 2)
        let last = first.addingTimeInterval(9)

        var survivors = processes
        if let killAfter {
            try await MultiProcessTests.waitFor("\(killAfter) ticks of the window", watching: processes) {
                try await Self.jobs(fixture).filter { $0.tick >= first && $0.tick <= last }.count >= killAfter
            }
            let leader = try #require(processes.first { $0.log.contains("Leading the scheduler") }, "no process leads")
            leader.kill()
            #expect(try await leader.waitForExit() == .signalled(SIGKILL))
            survivors.removeAll { $0 === leader }
        }
        try await MultiProcessTests.waitFor("the ten ticks' jobs to be done", timeout: .seconds(60), watching: survivors) {
            try await Self.jobs(fixture).filter { $0.tick >= first && $0.tick <= last && $0.status == "done" }.count >= 10
        }
        for process in survivors { process.terminate() }
        for process in survivors {
            let exit = try await process.waitForExit()
            #expect(exit == .exited(0), "\(process.name) \(exit); its log:\n\(process.log)")
        }
        return (first, last)
    }

    /// The `mp.tick` jobs, by tick.
    /// The tick jobs, in tick order. The tick is read from the unique key (`schedule:mp-tick:`
    /// and the tick in UTC), not from `run_at`, which taking a job back moves.
    static func jobs(_ fixture: JobKitFixture) async throws -> [TickJob] {
        let rows = try await fixture.pool.query("""
            SELECT id, run_at, unique_key, status::text,
                EXISTS (SELECT FROM jobkit.job_events AS e WHERE e.job_id = j.id AND e.kind IN ('rescued', 'released'))
            FROM jobkit.jobs AS j WHERE job_type = 'mp.tick'
            """)
        let parser = ISO8601DateFormatter()
        return try rows.map { row in
            let (id, runAt, key, status, wasTakenBack) = try row.decode((UUID, Date, String?, String, Bool).self)
            let uniqueKey = try #require(key, "the job \(id) has no unique key")
            let tick = try #require(parser.date(from: String(uniqueKey.dropFirst("schedule:mp-tick:".count))), "unique key \(uniqueKey)")
            return TickJob(id: id, tick: tick, runAt: runAt, uniqueKey: uniqueKey, status: status, wasTakenBack: wasTakenBack)
        }.sorted { $0.tick < $1.tick }
    }
}
