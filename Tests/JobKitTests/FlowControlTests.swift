import Foundation
import JobKit
import LibPQ
import PostgresTestSupport
import ServiceLifecycleTestKit
import Synchronization
import Testing

/// Flow control against a real PostgreSQL: snooze, unique jobs, pause and resume, and the
/// fleet-wide concurrency, per-key and rate limits, with several executors on one queue.
@Suite(.timeLimit(.minutes(3)))
struct FlowControlTests {
    // MARK: - Handlers

    /// Counts how many runs are going on at once, in all and per key, and the peaks.
    final class Tracker: Sendable {
        private struct State {
            var running = 0
            var peak = 0
            var runningByKey: [String: Int] = [:]
            var peakByKey: [String: Int] = [:]
            var runs: [UUID: Int] = [:]
        }
        private let state = Mutex(State())

        func begin(_ id: UUID, key: String) {
            self.state.withLock { state in
                state.running += 1
                state.peak = max(state.peak, state.running)
                state.runningByKey[key, default: 0] += 1
                state.peakByKey[key] = max(state.peakByKey[key] ?? 0, state.runningByKey[key] ?? 0)
                state.runs[id, default: 0] += 1
            }
        }

        func end(key: String) {
            self.state.withLock { state in
                state.running -= 1
                state.runningByKey[key, default: 0] -= 1
            }
        }

        var peak: Int { self.state.withLock { $0.peak } }
        var peakByKey: [String: Int] { self.state.withLock { $0.peakByKey } }
        var runs: [UUID: Int] { self.state.withLock { $0.runs } }
    }

    /// Works for `milliseconds`, tracked under `key`.
    struct Tracked: JobHandler {
        struct Payload: Codable, Sendable, Equatable { var key: String = ""; var milliseconds: Int = 40; var note: String = "" }
        static let type = "tracked"
        let tracker: Tracker

        func run(_ payload: Payload, context: JobContext) async throws -> EmptyPayload {
            self.tracker.begin(context.id, key: payload.key)
            defer { self.tracker.end(key: payload.key) }
            // A job body may sleep to simulate work.
            try await Task.sleep(for: .milliseconds(payload.milliseconds))
            return EmptyPayload()
        }
    }

    /// Snoozes `times` times for `milliseconds`, then completes.
    struct Sleepy: JobHandler {
        struct Payload: Codable, Sendable { var times: Int; var milliseconds: Int }
        static let type = "sleepy"
        static let retryPolicy = RetryPolicy.none
        let tracker: Tracker

        func run(_ payload: Payload, context: JobContext) async throws -> EmptyPayload {
            self.tracker.begin(context.id, key: "")
            self.tracker.end(key: "")
            if (self.tracker.runs[context.id] ?? 0) <= payload.times {
                try context.snooze(for: .milliseconds(payload.milliseconds))
            }
            return EmptyPayload()
        }
    }

    // MARK: - Running executors

    /// Runs every executor until `condition` holds (or 60 s pass), then shuts all down gracefully.
    static func run(_ executors: [JobExecutor], until condition: @escaping @Sendable () async throws -> Bool) async throws -> Bool {
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Bool.self) { group in
                for executor in executors {
                    group.addTask {
                        try await executor.run()
                        return false
                    }
                }
                group.addTask {
                    try await pollUntil("the condition", timeout: .seconds(60), condition)
                    return true
                }
                let met = try await group.next() ?? false
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
                return met
            }
        }
    }

    /// `count` executors on `queues`, each with a service and pool of its own, as separate processes have.
    static func executors(
        _ count: Int, _ fixture: JobKitFixture, queues: [String], concurrency: Int, handler: @escaping @Sendable () -> any JobHandler
    ) -> [JobExecutor] {
        (0..<count).map { index in
            let service = JobService(pool: fixture.makePool(maximumConnections: 6), configuration: .init(
                workerID: "executor-\(index)", heartbeatInterval: .milliseconds(500), pollInterval: .milliseconds(100)))
            return JobExecutor(service: service, handlers: [handler()], configuration: .init(
                queues: queues, concurrency: concurrency, pollInterval: .milliseconds(100)))
        }
    }

    static func status(_ fixture: JobKitFixture, _ id: UUID) async throws -> JobStatus {
        try await fixture.jobs.job(id).status
    }

    // MARK: - Snooze

    @Test func aSnoozedJobWaitsAndRunsAgainWithoutSpendingAnAttempt() async throws {
        try await withJobKitFixture("flow") { fixture in
            let tracker = Tracker()
            // One attempt only: were a snooze to spend it, the job could never run again.
            let id = try await fixture.jobs.enqueue(Sleepy.self, .init(times: 2, milliseconds: 150), options: .init(maxAttempts: 1))
            let executors = Self.executors(1, fixture, queues: ["default"], concurrency: 2) { Sleepy(tracker: tracker) }

            #expect(try await Self.run(executors) { try await Self.status(fixture, id) == .done })

            let job = try await fixture.jobs.job(id)
            #expect(job.attempt == 1)
            #expect(tracker.runs[id] == 3)
            let history = try await fixture.jobs.history(of: id)
            let snoozes = history.filter { $0.kind == "snoozed" }
            #expect(snoozes.count == 2)
            #expect(snoozes.allSatisfy { $0.fromStatus == .inProgress && $0.toStatus == .scheduled && $0.message == "snoozed for 0.15 seconds" })
            // Each run after a snooze began no sooner than the snooze asked: the job finished at
            // least two snoozes after the first one.
            let runsAfter = try await fixture.pool.query("""
                SELECT j.finished_at - min(e.at) >= interval '300 milliseconds'
                FROM jobkit.jobs AS j JOIN jobkit.job_events AS e ON e.job_id = j.id WHERE j.id = \(id) GROUP BY j.finished_at
                """).first?.decode(Bool.self, at: 0)
            #expect(runsAfter == true)
            #expect(job.errorMessage == nil)
        }
    }

    // MARK: - Unique jobs

    @Test func anEqualWaitingJobIsReturnedInsteadOfInsertingAnother() async throws {
        try await withJobKitFixture("flow") { fixture in
            let unique = JobOptions(unique: .init())
            let first = try await fixture.jobs.enqueue(Tracked.self, .init(key: "a"), options: unique)
            let again = try await fixture.jobs.enqueue(Tracked.self, .init(key: "a"), options: unique)
            let other = try await fixture.jobs.enqueue(Tracked.self, .init(key: "b"), options: unique)
            let elsewhere = try await fixture.jobs.enqueue(Tracked.self, .init(key: "a"), options: .init(queue: "other", unique: .init()))

            #expect(again == first)
            #expect(other != first && elsewhere != first)
            #expect(try await fixture.count("jobs") == 3)
        }
    }

    @Test func aFinishedJobNoLongerHoldsItsKeyUnlessItsStateCounts() async throws {
        try await withJobKitFixture("flow") { fixture in
            let waiting = JobOptions(unique: .init())
            let ever = JobOptions(unique: .init(states: Set(JobStatus.allCases)))
            let first = try await fixture.jobs.enqueue(Tracked.self, .init(key: "a"), options: waiting)
            let keptForever = try await fixture.jobs.enqueue(Tracked.self, .init(key: "z"), options: ever)
            for id in [first, keptForever] {
                let started = try await fixture.jobs.start(id)
                _ = try await fixture.jobs.complete(id, lease: started.lease?.token)
            }

            let second = try await fixture.jobs.enqueue(Tracked.self, .init(key: "a"), options: waiting)
            let stillTheFirst = try await fixture.jobs.enqueue(Tracked.self, .init(key: "z"), options: ever)

            #expect(second != first)
            #expect(stillTheFirst == keptForever)
        }
    }

    @Test func onlyTheChosenPayloadKeysMakeJobsEqual() async throws {
        try await withJobKitFixture("flow") { fixture in
            let byKey = JobOptions(unique: .init(fields: [.payload], payloadKeys: ["key"]))
            let first = try await fixture.jobs.enqueue(Tracked.self, .init(key: "a", note: "one"), options: byKey)
            let sameKey = try await fixture.jobs.enqueue(Tracked.self, .init(key: "a", milliseconds: 5, note: "two"), options: byKey)
            let otherQueue = try await fixture.jobs.enqueue(Tracked.self, .init(key: "a"), options: .init(queue: "q2", unique: byKey.unique))

            #expect(sameKey == first)
            // The queue is not among the fields: another queue's equal job is the same job.
            #expect(otherQueue == first)
            #expect(try await fixture.jobs.job(first).payload(as: Tracked.Payload.self).note == "one")
        }
    }

    @Test func replaceGivesAWaitingJobTheNewPayloadAndRunAt() async throws {
        try await withJobKitFixture("flow") { fixture in
            let replace = UniqueJob(fields: [.payload], payloadKeys: ["key"], onConflict: .replace)
            let first = try await fixture.jobs.enqueue(Tracked.self, .init(key: "a", note: "old"), options: .init(unique: replace))
            let later = Date().addingTimeInterval(3600)
            let replaced = try await fixture.jobs.enqueue(
                Tracked.self, .init(key: "a", note: "new"), options: .init(priority: 5, runAt: later, unique: replace))

            #expect(replaced == first)
            let job = try await fixture.jobs.job(first)
            #expect(try job.payload(as: Tracked.Payload.self).note == "new")
            #expect(job.priority == 5)
            #expect(abs(job.runAt.timeIntervalSince(later)) < 0.01)

            // A running job keeps what it runs with.
            let started = try await fixture.jobs.start(first)
            _ = try await fixture.jobs.enqueue(Tracked.self, .init(key: "a", note: "newer"), options: .init(unique: replace))
            #expect(try await fixture.jobs.job(first).payload(as: Tracked.Payload.self).note == "new")
            #expect(started.status == .inProgress)
        }
    }

    @Test func failOnConflictThrowsDuplicateAndChangesNothing() async throws {
        try await withJobKitFixture("flow") { fixture in
            let strict = JobOptions(unique: .init(onConflict: .fail))
            let first = try await fixture.jobs.enqueue(Tracked.self, .init(key: "a", note: "kept"), options: strict)
            let before = try await fixture.jobs.job(first)

            let error = try await jobError { _ = try await fixture.jobs.enqueue(Tracked.self, .init(key: "a", note: "kept"), options: strict) }

            #expect(error.code == .duplicate)
            #expect(error.uniqueKey?.hasPrefix("unique:") == true)
            #expect(try await fixture.jobs.job(first) == before)
            #expect(try await fixture.count("jobs") == 1)
        }
    }

    @Test func bulkEnqueueOfUniqueJobsMapsEachPayloadToItsJob() async throws {
        try await withJobKitFixture("flow") { fixture in
            let unique = JobOptions(unique: .init())
            let existing = try await fixture.jobs.enqueue(Tracked.self, .init(key: "x"), options: unique)
            let keys = ["a", "b", "a", "x", "c", "b"]

            let ids = try await fixture.jobs.enqueueMany(Tracked.self, keys.map { Tracked.Payload(key: $0) }, options: unique)

            #expect(ids.count == 6)
            #expect(ids[0] == ids[2] && ids[1] == ids[5])
            #expect(ids[3] == existing)
            #expect(Set(ids).count == 4)
            #expect(try await fixture.count("jobs") == 4)
            for (key, id) in zip(keys, ids) {
                #expect(try await fixture.jobs.job(id).payload(as: Tracked.Payload.self).key == key)
            }
        }
    }

    @Test func racingEnqueuersInSeveralServicesMakeOneJob() async throws {
        try await withJobKitFixture("flow") { fixture in
            let services = (0..<4).map { fixture.makeService(workerID: "enqueuer-\($0)") }
            let ids = try await withThrowingTaskGroup(of: [UUID].self) { group in
                for service in services {
                    group.addTask {
                        var ids: [UUID] = []
                        for _ in 0..<10 {
                            ids.append(try await service.enqueue(Tracked.self, .init(key: "race"), options: .init(unique: .init())))
                        }
                        return ids
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }

            #expect(ids.count == 40)
            #expect(Set(ids).count == 1)
            #expect(try await fixture.count("jobs") == 1)
        }
    }

    @Test func badUniqueRulesAreRefusedBeforeAnySQL() async throws {
        try await withJobKitFixture("flow") { fixture in
            let noStates = try await jobError {
                _ = try await fixture.jobs.enqueue(Tracked.self, .init(), options: .init(unique: .init(states: [])))
            }
            let both = try await jobError {
                _ = try await fixture.jobs.enqueue(Tracked.self, .init(), options: .init(uniqueKey: "k", unique: .init()))
            }
            let keysWithoutPayload = try await jobError {
                _ = try await fixture.jobs.enqueue(Tracked.self, .init(), options: .init(unique: .init(fields: [.queue], payloadKeys: ["key"])))
            }
            let onCreate = try await jobError { _ = try await fixture.jobs.create("tracked", options: .init(unique: .init())) }

            #expect([noStates, both, keysWithoutPayload, onCreate].allSatisfy { $0.code == .invalidArgument })
            #expect(try await fixture.count("jobs") == 0)
        }
    }

    // MARK: - Pause and resume

    @Test func aPausedQueueIsNotClaimedUntilResumedFromAnotherService() async throws {
        try await withJobKitFixture("flow") { fixture in
            let tracker = Tracker()
            let operatorService = fixture.makeService(workerID: "operator")
            try await operatorService.pauseQueue("reports")
            let paused = try await fixture.jobs.enqueue(Tracked.self, .init(), options: .init(queue: "reports"))
            let executors = Self.executors(2, fixture, queues: ["reports", "mail"], concurrency: 2) { Tracked(tracker: tracker) }

            try await testGracefulShutdown { trigger in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for executor in executors { group.addTask { try await executor.run() } }
                    // A job of the other queue, enqueued after the paused one, runs: the executors claim.
                    let other = try await fixture.jobs.enqueue(Tracked.self, .init(), options: .init(queue: "mail"))
                    try await pollUntil("the mail job to be done") { try await Self.status(fixture, other) == .done }
                    #expect(try await Self.status(fixture, paused) == .scheduled)
                    #expect(try await fixture.jobs.queues().first { $0.name == "reports" }?.isPaused == true)

                    try await operatorService.resumeQueue("reports")
                    try await pollUntil("the resumed job to be done") { try await Self.status(fixture, paused) == .done }
                    trigger.triggerGracefulShutdown()
                    try await group.waitForAll()
                }
            }
            let reports = try #require(try await fixture.jobs.queues().first { $0.name == "reports" })
            #expect(!reports.isPaused)
        }
    }

    // MARK: - Limits across the fleet

    @Test func threeExecutorsNeverRunMoreThanTheQueuesLimitAtOnce() async throws {
        try await withJobKitFixture("flow") { fixture in
            let tracker = Tracker()
            try await fixture.jobs.configureQueue("limited", QueueSettings(concurrencyLimit: 2))
            let ids = try await fixture.jobs.enqueueMany(
                Tracked.self, Array(repeating: .init(milliseconds: 60), count: 24), options: .init(queue: "limited"))
            let executors = Self.executors(3, fixture, queues: ["limited"], concurrency: 4) { Tracked(tracker: tracker) }

            #expect(try await Self.run(executors) { try await fixture.count("jobs", where: "status = 'done'") == 24 })

            #expect(tracker.peak <= 2, "peak \(tracker.peak)")
            #expect(Set(tracker.runs.keys) == Set(ids) && tracker.runs.values.allSatisfy { $0 == 1 })
        }
    }

    @Test func atMostKeyLimitJobsOfOneKeyRunAtOnceAcrossExecutors() async throws {
        try await withJobKitFixture("flow") { fixture in
            let tracker = Tracker()
            try await fixture.jobs.configureQueue("tenants", QueueSettings(keyLimit: 1))
            for key in ["acme", "globex", "initech"] {
                try await fixture.jobs.enqueueMany(
                    Tracked.self, Array(repeating: .init(key: key, milliseconds: 40), count: 6),
                    options: .init(queue: "tenants", concurrencyKey: key))
            }
            let executors = Self.executors(3, fixture, queues: ["tenants"], concurrency: 4) { Tracked(tracker: tracker) }

            #expect(try await Self.run(executors) { try await fixture.count("jobs", where: "status = 'done'") == 18 })

            #expect(tracker.peakByKey.values.allSatisfy { $0 == 1 }, "peaks per key: \(tracker.peakByKey)")
            #expect(tracker.runs.count == 18)
        }
    }

    @Test func fourExecutorsRacingForTheSameKeysNeverRunMoreThanTwoOfAKeyAndGiveEachRunASlot() async throws {
        try await withJobKitFixture("flow") { fixture in
            let tracker = Tracker()
            try await fixture.jobs.configureQueue("tenants", QueueSettings(keyLimit: 2))
            for key in ["acme", "globex", "initech"] {
                try await fixture.jobs.enqueueMany(
                    Tracked.self, Array(repeating: .init(key: key, milliseconds: 30), count: 10),
                    options: .init(queue: "tenants", concurrencyKey: key))
            }
            // 16 slots for at most 6 runnable jobs at a time: the claims race for the same keys.
            let executors = Self.executors(4, fixture, queues: ["tenants"], concurrency: 4) { Tracked(tracker: tracker) }

            #expect(try await Self.run(executors) { try await fixture.count("jobs", where: "status = 'done'") == 30 })

            #expect(tracker.peakByKey.values.allSatisfy { $0 <= 2 }, "peaks per key: \(tracker.peakByKey)")
            #expect(tracker.peakByKey.values.contains(2), "a key's second slot was never used: \(tracker.peakByKey)")
            #expect(tracker.runs.count == 30 && tracker.runs.values.allSatisfy { $0 == 1 })
            // Every run held slot 1 or 2 of its key.
            #expect(try await fixture.count("jobs", where: "key_slot BETWEEN 1 AND 2") == 30)
        }
    }

    @Test func aClaimRacingForAKeysLastSlotWaitsForTheOtherClaimThenPassesTheKeyOver() async throws {
        try await withJobKitFixture("flow") { fixture in
            let tracker = Tracker()
            try await fixture.jobs.configureQueue("tenants", QueueSettings(keyLimit: 1))
            let acme = try await fixture.jobs.enqueueMany(
                Tracked.self, Array(repeating: .init(key: "acme", milliseconds: 5), count: 2),
                options: .init(queue: "tenants", concurrencyKey: "acme"))
            let globex = try await fixture.jobs.enqueue(
                Tracked.self, .init(key: "globex", milliseconds: 5), options: .init(queue: "tenants", concurrencyKey: "globex"))
            let executors = Self.executors(1, fixture, queues: ["tenants"], concurrency: 2) { Tracked(tracker: tracker) }
            let other = fixture.makePool(maximumConnections: 1)
            let status = { @Sendable (id: UUID) in try await fixture.jobs.job(id).status }

            let ran = try await withThrowingTaskGroup(of: Bool.self) { group in
                group.addTask {
                    try await Self.run(executors) {
                        let second = try await status(acme[1])
                        let third = try await status(globex)
                        return second == .done && third == .done
                    }
                }
                // Another claim, by SQL, has taken acme's only slot for its first job and not
                // committed yet: the executor's snapshot shows acme free.
                try await other.withConnection { connection in
                    _ = try await connection.query("BEGIN")
                    _ = try await connection.query("""
                        UPDATE \(unescaped: fixture.schema).jobs SET status = 'in_progress', attempt = 1, started_at = now(),
                            lease_owner = 'other', lease_token = gen_random_uuid(), lease_expires_at = now() + interval '1 hour', key_slot = 1
                        WHERE id = \(acme[0])
                        """)
                    // The executor's claim gives acme's second job the same slot, and waits on the
                    // unique index for the other claim's outcome.
                    try await pollUntil("a claim waits for the other transaction") {
                        try await fixture.pool.query("""
                            SELECT count(*) FROM pg_locks AS l JOIN pg_stat_activity AS a ON a.pid = l.pid
                            WHERE l.locktype = 'transactionid' AND NOT l.granted AND a.datname = current_database()
                            """).first?.decode(Int.self, at: 0) ?? 0 > 0
                    }
                    #expect(try await status(acme[1]) == .scheduled)
                    _ = try await connection.query("COMMIT")
                }
                // The claim is made again and sees acme running: it runs globex, not acme's second job.
                try await pollUntil("globex ran") { try await status(globex) == .done }
                #expect(try await status(acme[1]) == .scheduled)
                #expect(tracker.peakByKey["acme"] == nil)
                // Once the other claim's job ends, the second one runs.
                try await fixture.execute("""
                    UPDATE \(unescaped: fixture.schema).jobs SET status = 'done', finished_at = now(), progress = 100,
                        lease_token = NULL, lease_expires_at = NULL
                    WHERE id = \(acme[0])
                    """)
                let ran = try await group.next() ?? false
                try await group.waitForAll()
                return ran
            }
            #expect(ran)
            #expect(tracker.peakByKey == ["acme": 1, "globex": 1])
        }
    }

    @Test func theLimitedClaimsAndTheFinishRunTheirGenericPlansAndLeaveTheSessionsSettingAsItWas() async throws {
        try await withJobKitFixture("flow") { fixture in
            let tracker = Tracker()
            // One queue claimed by the keyed claim, one by the locked claim.
            try await fixture.jobs.configureQueue("tenants", QueueSettings(keyLimit: 1))
            try await fixture.jobs.configureQueue("capped", QueueSettings(concurrencyLimit: 2, keyLimit: 1))
            for queue in ["tenants", "capped"] {
                for key in ["acme", "globex"] {
                    try await fixture.jobs.enqueueMany(
                        Tracked.self, Array(repeating: .init(key: "\(queue)-\(key)", milliseconds: 5), count: 12),
                        options: .init(queue: queue, concurrencyKey: key))
                }
            }
            // Two connections: every claim and write of the executor runs on one of them.
            let pool = fixture.makePool(maximumConnections: 2)
            let service = JobService(pool: pool, configuration: .init(workerID: "planner", pollInterval: .milliseconds(100)))
            let executor = JobExecutor(service: service, handlers: [Tracked(tracker: tracker)], configuration: .init(
                queues: ["tenants", "capped"], concurrency: 2, pollInterval: .milliseconds(50)))

            #expect(try await Self.run([executor]) { try await fixture.count("jobs", where: "status = 'done'") == 48 })

            // Each connection's prepared statements: how often each was planned for any values
            // (generic) and for one call's values (custom).
            var plans: [String: [(generic: Int, custom: Int)]] = [:]
            var restored: [Bool] = []
            try await pool.withConnection { first in
                try await pool.withConnection { second in
                    for connection in [first, second] {
                        let rows = try await connection.query("""
                            SELECT CASE WHEN statement LIKE '%pg_try_advisory_xact_lock%' THEN 'keyed claim'
                                    WHEN statement LIKE '%key_running AS%' THEN 'locked claim' ELSE 'finish' END,
                                sum(generic_plans)::int8, sum(custom_plans)::int8
                            FROM pg_prepared_statements
                            WHERE statement LIKE '%key_running AS%' OR statement LIKE '%WITH o AS%'
                            GROUP BY 1
                            """)
                        for row in rows {
                            let (statement, generic, custom) = try row.decode((String, Int, Int).self)
                            plans[statement, default: []].append((generic, custom))
                        }
                        restored += try await connection.query("SELECT setting = reset_val FROM pg_settings WHERE name = 'plan_cache_mode'")
                            .map { try $0.decode(Bool.self, at: 0) }
                    }
                }
            }
            // 24 jobs a queue, at most one per key at a time: at least 12 claims of each queue,
            // and 48 outcomes written in at least 24 batches. The locked claim and the finish
            // force their generic plans; the keyed claim gives PostgreSQL nothing to plan a call
            // for, so after its first five calls on a connection it keeps to the generic plan.
            for statement in ["locked claim", "finish"] {
                let counted = plans[statement] ?? []
                #expect(counted.map(\.generic).reduce(0, +) >= 12, "\(statement): \(counted)")
                #expect(counted.allSatisfy { $0.custom == 0 }, "\(statement): \(counted)")
            }
            let keyed = plans["keyed claim"] ?? []
            #expect(keyed.map { $0.generic + $0.custom }.reduce(0, +) >= 12, "keyed claim: \(keyed)")
            #expect(keyed.allSatisfy { $0.custom <= 5 } && keyed.contains { $0.generic > 0 }, "keyed claim: \(keyed)")
            // The settings were each transaction's own: each session has its default again.
            #expect(restored == [true, true])
        }
    }

    @Test func withoutTheStatementCacheTheLimitedClaimIsPlannedPerCallAndHoldsTheKeyLimit() async throws {
        try await withJobKitFixture("flow") { fixture in
            let tracker = Tracker()
            try await fixture.jobs.configureQueue("tenants", QueueSettings(keyLimit: 1))
            for key in ["acme", "globex", "initech"] {
                try await fixture.jobs.enqueueMany(
                    Tracked.self, Array(repeating: .init(key: key, milliseconds: 20), count: 6),
                    options: .init(queue: "tenants", concurrencyKey: key))
            }
            let pools = (0..<2).map { _ in fixture.makePool(maximumConnections: 4, statementCacheCapacity: 0) }
            let executors = pools.enumerated().map { index, pool in
                JobExecutor(
                    service: JobService(pool: pool, configuration: .init(workerID: "uncached-\(index)", pollInterval: .milliseconds(100))),
                    handlers: [Tracked(tracker: tracker)], configuration: .init(queues: ["tenants"], concurrency: 4, pollInterval: .milliseconds(50)))
            }

            #expect(try await Self.run(executors) { try await fixture.count("jobs", where: "status = 'done'") == 18 })

            #expect(tracker.peakByKey.values.allSatisfy { $0 == 1 }, "peaks per key: \(tracker.peakByKey)")
            #expect(tracker.runs.count == 18)
            for pool in pools {
                let prepared = try await pool.query("SELECT count(*)::int8 FROM pg_prepared_statements").first?.decode(Int.self, at: 0)
                #expect(prepared == 0)
            }
        }
    }

    @Test func aKeyWithManyWaitingJobsAtTheHeadDoesNotHoldBackTheOthers() async throws {
        try await withJobKitFixture("flow") { fixture in
            let tracker = Tracker()
            try await fixture.jobs.configureQueue("tenants", QueueSettings(keyLimit: 1))
            // 100 jobs of one key first, then one job of each of 5 other keys, behind them all.
            try await fixture.jobs.enqueueMany(
                Tracked.self, Array(repeating: .init(key: "big", milliseconds: 30), count: 100),
                options: .init(queue: "tenants", concurrencyKey: "big"))
            for index in 0..<5 {
                try await fixture.jobs.enqueue(
                    Tracked.self, .init(key: "small-\(index)", milliseconds: 30), options: .init(queue: "tenants", concurrencyKey: "small-\(index)"))
            }
            let executors = Self.executors(2, fixture, queues: ["tenants"], concurrency: 4) { Tracked(tracker: tracker) }

            #expect(try await Self.run(executors) {
                try await fixture.count("jobs", where: "concurrency_key LIKE 'small-%' AND status = 'done'") == 5
            })

            // The big key ran one at a time; the small ones did not wait for its 100 jobs.
            #expect(try await fixture.count("jobs", where: "concurrency_key = 'big' AND status <> 'done'") > 50)
            #expect(tracker.peakByKey["big"] == 1)
        }
    }

    @Test func aRateLimitStartsAtMostNJobsPerPeriod() async throws {
        try await withJobKitFixture("flow") { fixture in
            let tracker = Tracker()
            try await fixture.jobs.configureQueue("metered", QueueSettings(rateLimit: .init(3, per: .seconds(3600))))
            try await fixture.jobs.enqueueMany(Tracked.self, Array(repeating: .init(milliseconds: 1), count: 7), options: .init(queue: "metered"))
            let executors = Self.executors(2, fixture, queues: ["metered", "free"], concurrency: 4) { Tracked(tracker: tracker) }

            try await testGracefulShutdown { trigger in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for executor in executors { group.addTask { try await executor.run() } }
                    try await pollUntil("three metered jobs to be done") { try await fixture.count("jobs", where: "status = 'done'") == 3 }
                    // Proof that the executors went on claiming: a later job of another queue runs.
                    let later = try await fixture.jobs.enqueue(Tracked.self, .init(milliseconds: 1), options: .init(queue: "free"))
                    try await pollUntil("the free job to be done") { try await Self.status(fixture, later) == .done }
                    #expect(try await fixture.count("jobs", where: "queue = 'metered' AND status = 'scheduled'") == 4)

                    // Lifting the limit lets the rest run.
                    try await fixture.jobs.configureQueue("metered", QueueSettings())
                    try await pollUntil("every job to be done") { try await fixture.count("jobs", where: "status = 'done'") == 8 }
                    trigger.triggerGracefulShutdown()
                    try await group.waitForAll()
                }
            }
        }
    }

    @Test func badQueueSettingsAreRefusedAndChangeNothing() async throws {
        try await withJobKitFixture("flow") { fixture in
            try await fixture.jobs.configureQueue("q", QueueSettings(concurrencyLimit: 3))
            let errors = [
                try await jobError { try await fixture.jobs.configureQueue("q", QueueSettings(concurrencyLimit: 0)) },
                try await jobError { try await fixture.jobs.configureQueue("q", QueueSettings(keyLimit: -1)) },
                try await jobError { try await fixture.jobs.configureQueue("q", QueueSettings(rateLimit: .init(0, per: .seconds(1)))) },
                try await jobError { try await fixture.jobs.configureQueue("q", QueueSettings(rateLimit: .init(1, per: .zero))) },
                try await jobError { try await fixture.jobs.configureQueue("", QueueSettings()) },
                try await jobError { try await fixture.jobs.pauseQueue("") },
            ]
            #expect(errors.allSatisfy { $0.code == .invalidArgument })
            let queue = try #require(try await fixture.jobs.queues().first { $0.name == "q" })
            #expect(queue.settings == QueueSettings(concurrencyLimit: 3) && !queue.isPaused)
        }
    }
}
