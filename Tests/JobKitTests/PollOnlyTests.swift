import Foundation
import JobKit
import LibPQ
import PostgresTestSupport
import ServiceLifecycle
import ServiceLifecycleTestKit
import Testing

/// Poll-only mode (PgBouncer in transaction pooling): with notifications off, no connection of
/// the process ever LISTENs, and claiming, remote cancellation, `updates(of:)` and `result(of:)`
/// all work by polling.
@Suite(.timeLimit(.minutes(3)))
struct PollOnlyTests {
    /// Returns its payload doubled after reporting progress.
    struct Doubler: JobHandler {
        struct Payload: Codable, Sendable { var value: Int }
        static let type = "doubler"
        func run(_ payload: Payload, context: JobContext) async throws -> Int {
            try await context.progress(50, step: "doubling")
            return payload.value * 2
        }
    }

    /// Records that it started, then waits until it is cancelled.
    struct Block: JobHandler {
        struct Payload: Codable, Sendable {}
        static let type = "block"
        static let retryPolicy = RetryPolicy.none
        let started: IDBox
        func run(_ payload: Payload, context: JobContext) async throws -> EmptyPayload {
            self.started.set(context.id)
            try await Task.sleep(for: .seconds(120))
            return EmptyPayload()
        }
    }

    /// A service over the fixture's database whose every setting says poll only (or not).
    static func service(_ fixture: JobKitFixture, usesNotifications: Bool, workerID: String = "poller") -> JobService {
        JobService(pool: fixture.makePool(), configuration: .init(
            workerID: workerID, leaseDuration: .seconds(30), heartbeatInterval: .milliseconds(200), pollInterval: .milliseconds(100),
            usesNotifications: usesNotifications))
    }

    /// Connections to the test database whose last statement was a LISTEN: the listeners.
    static func listeningConnections(_ fixture: JobKitFixture) async throws -> Int {
        try #require(try await fixture.pool.query("""
            SELECT count(*) FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid() AND query ILIKE 'listen %'
            """).first).decode(Int.self, at: 0)
    }

    /// Runs `services` while `body` runs, then shuts them down gracefully.
    static func whileRunning<Result: Sendable>(_ services: [any Service], _ body: () async throws -> Result) async throws -> Result {
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for service in services { group.addTask { try await service.run() } }
                do {
                    let result = try await body()
                    trigger.triggerGracefulShutdown()
                    try await group.waitForAll()
                    return result
                } catch {
                    trigger.triggerGracefulShutdown()
                    group.cancelAll()
                    try? await group.waitForAll()
                    throw error
                }
            }
        }
    }

    // MARK: - The probe works

    @Test func withNotificationsTheServiceAndTheExecutorListen() async throws {
        try await withJobKitFixture("pollonly") { fixture in
            let jobs = Self.service(fixture, usesNotifications: true)
            let executor = JobExecutor(service: jobs, handlers: [Doubler()], configuration: .init(pollInterval: .seconds(30)))
            try await Self.whileRunning([jobs, executor]) {
                // The probe this suite relies on sees both listening connections.
                try await pollUntil("two listening connections") { try await Self.listeningConnections(fixture) == 2 }
                let id = try await jobs.enqueue(Doubler.self, .init(value: 1))
                // With a 30 s poll, only the notification can have woken it.
                try await pollUntil("the job to be done", timeout: .seconds(20)) { try await jobs.job(id).status == .done }
            }
        }
    }

    // MARK: - No LISTEN anywhere

    @Test func pollOnlyServiceAndExecutorClaimJobsWithoutAnyListeningConnection() async throws {
        try await withJobKitFixture("pollonly") { fixture in
            let jobs = Self.service(fixture, usesNotifications: false)
            // The executor keeps its default (`usesNotifications: true`): the service's switch wins.
            let executor = JobExecutor(service: jobs, handlers: [Doubler()], configuration: .init(pollInterval: .milliseconds(100)))
            var listenersSeen = 0
            var samples = 0
            try await Self.whileRunning([jobs, executor]) {
                // Wait until the executor has claimed once (an idle poll), then enqueue work it must find by polling.
                // run() registers the executor before its first claim: from then on, it polls.
                try await pollUntil("the executor to register") { await jobs.health().workers.count == 1 }
                let ids = try await jobs.enqueueMany(Doubler.self, (1...20).map { .init(value: $0) })
                try await pollUntil("every job to be done") {
                    listenersSeen = max(listenersSeen, try await Self.listeningConnections(fixture))
                    samples += 1
                    return try await fixture.count("jobs", where: "status = 'done'") == ids.count
                }
                for (index, id) in ids.enumerated() {
                    #expect(try await jobs.job(id).result(as: Int.self) == (index + 1) * 2)
                }
            }
            #expect(listenersSeen == 0)
            #expect(samples > 0)
        }
    }

    @Test func executorWithNotificationsOffOpensNoListenerBesideAListeningService() async throws {
        try await withJobKitFixture("pollonly") { fixture in
            let jobs = Self.service(fixture, usesNotifications: true)
            let executor = JobExecutor(
                service: jobs, handlers: [Doubler()], configuration: .init(pollInterval: .milliseconds(100), usesNotifications: false))
            try await Self.whileRunning([jobs, executor]) {
                try await pollUntil("the service to listen") { try await Self.listeningConnections(fixture) == 1 }
                let id = try await jobs.enqueue(Doubler.self, .init(value: 21))
                var most = 0
                try await pollUntil("the job to be done") {
                    most = max(most, try await Self.listeningConnections(fixture))
                    return try await jobs.job(id).status == .done
                }
                // Only the service's own listener: the executor opened none.
                #expect(most == 1)
            }
        }
    }

    // MARK: - What relies on NOTIFY elsewhere

    @Test func cancellationFromAnotherProcessReachesAPollOnlyExecutorsJobAtItsHeartbeat() async throws {
        try await withJobKitFixture("pollonly") { fixture in
            let jobs = Self.service(fixture, usesNotifications: false)
            let started = IDBox()
            let executor = JobExecutor(service: jobs, handlers: [Block(started: started)], configuration: .init(pollInterval: .milliseconds(100)))
            let id = try await jobs.enqueue(Block.self, .init())
            try await Self.whileRunning([jobs, executor]) {
                try await pollUntil("the job to start") { started.value == id }
                // Another process asks; its NOTIFY reaches no one.
                let other = fixture.makeService(workerID: "operator")
                try await other.cancel(id, reason: "no longer needed")
                try await pollUntil("the job to be cancelled") { try await jobs.job(id).status == .cancelled }
                #expect(try await Self.listeningConnections(fixture) == 0)
            }
            #expect(try await jobs.history(of: id).map(\.kind) == ["cancel_requested", "cancelled"])
        }
    }

    @Test func runAsJobIsCancelledFromAnotherProcessWithoutNotifications() async throws {
        try await withJobKitFixture("pollonly") { fixture in
            let jobs = Self.service(fixture, usesNotifications: false)
            let started = IDBox()
            try await Self.whileRunning([jobs]) {
                async let run = jobs.runAsJob("blocking") { job -> EmptyPayload in
                    started.set(job.id)
                    try await Task.sleep(for: .seconds(120))
                    return EmptyPayload()
                }
                try await pollUntil("the job to start") { started.value != nil }
                let id = try #require(started.value)
                try await fixture.makeService(workerID: "operator").cancel(id)
                do {
                    _ = try await run
                    Issue.record("runAsJob returned; it should have thrown .cancelled")
                } catch let error as JobError {
                    #expect(error.code == .cancelled)
                }
                #expect(try await jobs.job(id).status == .cancelled)
            }
        }
    }

    @Test func updatesAndResultArriveByPollingWithoutNotifications() async throws {
        try await withJobKitFixture("pollonly") { fixture in
            let jobs = Self.service(fixture, usesNotifications: false)
            let executor = JobExecutor(service: jobs, handlers: [Doubler()], configuration: .init(pollInterval: .milliseconds(100)))
            let id = try await jobs.enqueue(Doubler.self, .init(value: 21))
            try await Self.whileRunning([jobs, executor]) {
                async let result = jobs.result(of: id, as: Int.self)
                var statuses: [JobStatus] = []
                for try await update in jobs.updates(of: id) { statuses.append(update.status) }
                #expect(statuses.first == .scheduled || statuses.first == .inProgress || statuses.first == .done)
                #expect(statuses.last == .done)
                #expect(try await result == 42)
                #expect(try await Self.listeningConnections(fixture) == 0)
            }
        }
    }
}
