import Foundation
import JobKit
import LibPQ
import PostgresTestSupport
import Synchronization
import Testing

/// `runAsJob`, the decorator form, and observing jobs, against a real PostgreSQL.
@Suite(.timeLimit(.minutes(3)))
struct RunAsJobTests {
    struct Document: Codable, Sendable, Equatable {
        var name: String
        var pages: [Int]
    }

    struct Summary: Codable, Sendable, Equatable {
        var words: Int
        var tags: [String: Int]
    }

    struct Unreadable: Error, CustomStringConvertible {
        var description: String { "page 3 is unreadable" }
    }

    /// A migrated service on a fresh database, with short leases for the tests.
    static func makeService(heartbeat: Duration = .milliseconds(200)) async throws -> JobService {
        let database = try await TestPostgres.makeDatabase(prefix: "runasjob")
        let pool = PostgresConnectionPool(connection: database, configuration: .init(maximumConnections: 8))
        let jobs = JobService(pool: pool, configuration: .init(
            leaseDuration: .seconds(5), heartbeatInterval: heartbeat, pollInterval: .milliseconds(200)))
        try await jobs.migrate()
        return jobs
    }

    /// Runs `body` while the service runs (its listener delivers notifications), then stops it.
    static func whileRunning<Result: Sendable>(_ jobs: JobService, _ body: @Sendable @escaping () async throws -> Result) async throws -> Result {
        try await withThrowingTaskGroup(of: Result?.self) { group in
            group.addTask {
                try await jobs.run()
                return nil
            }
            group.addTask { try await body() }
            while let next = try await group.next() {
                if let next {
                    group.cancelAll()
                    return next
                }
            }
            throw CancellationError()
        }
    }

    /// Polls `condition` until it holds or `timeout` passes.
    static func eventually(timeout: Duration = .seconds(10), _ condition: @Sendable () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    @Test func successStoresTheResultAndReturnsIt() async throws {
        let jobs = try await Self.makeService()
        let document = Document(name: "a.pdf", pages: [1, 2])
        let pair = try await jobs.runAsJob("ocr", reference: .init("document", "a.pdf"), payload: document) { job in
            try await job.progress(50, step: "pages")
            return PairResult(summary: Summary(words: 120, tags: ["x": 1]), id: job.id)
        }
        let (summary, id) = (pair.summary, pair.id)
        #expect(summary == Summary(words: 120, tags: ["x": 1]))
        let row = try await jobs.job(id)
        #expect(row.status == .done)
        #expect(row.progress == 100)
        #expect(row.attempt == 1)
        #expect(row.lease == nil)
        #expect(row.reference == JobReference("document", "a.pdf"))
        #expect(try row.payload(as: Document.self) == document)
        #expect(try row.result(as: PairResult.self)?.summary == summary)
    }

    @Test func thrownErrorIsRethrownAndStored() async throws {
        let jobs = try await Self.makeService()
        let ids = IDBox()
        await #expect(throws: Unreadable.self) {
            _ = try await jobs.runAsJob("ocr") { job -> Summary in
                ids.set(job.id)
                throw Unreadable()
            }
        }
        let row = try await jobs.job(try #require(ids.value))
        #expect(row.status == .failed)
        #expect(row.errorMessage?.contains("Unreadable") == true)
        #expect(row.errorMessage?.contains("page 3 is unreadable") == true)
        #expect(try await jobs.history(of: row.id).map(\.kind) == ["failed"])
    }

    @Test func cancellingTheCallerEndsTheJobCancelled() async throws {
        let jobs = try await Self.makeService()
        let ids = IDBox()
        let run = Task {
            try await jobs.runAsJob("long") { job -> Int in
                ids.set(job.id)
                try await Task.sleep(for: .seconds(60))
                return 1
            }
        }
        #expect(try await Self.eventually { ids.value != nil })
        run.cancel()
        await #expect(throws: CancellationError.self) { try await run.value }
        let row = try await jobs.job(try #require(ids.value))
        #expect(row.status == .cancelled)
        #expect(row.finishedAt != nil)
    }

    @Test func cancellingFromAnotherProcessCancelsTheClosure() async throws {
        let jobs = try await Self.makeService(heartbeat: .seconds(4))
        let ids = IDBox()
        let sawCancellation = IDBox()
        try await Self.whileRunning(jobs) {
            let run = Task {
                try await jobs.runAsJob("long") { job -> Int in
                    ids.set(job.id)
                    do {
                        try await Task.sleep(for: .seconds(60))
                    } catch {
                        sawCancellation.set(job.id)
                        throw error
                    }
                    return 1
                }
            }
            #expect(try await Self.eventually { ids.value != nil })
            let id = try #require(ids.value)
            // The canceller is another process: the jobkit CLI.
            let output = try await CLI.run(["cancel", id.uuidString, "--reason", "test", "--database-url", jobs.pool.connectionConfiguration.connectionString])
            #expect(output.status == 0, "jobkit cancel failed: \(output.text)")
            let error = await #expect(throws: JobError.self) { try await run.value }
            #expect(error?.code == .cancelled)
            #expect(sawCancellation.value == id)
            let row = try await jobs.job(id)
            #expect(row.status == .cancelled)
            #expect(try await jobs.history(of: id).map(\.kind) == ["cancel_requested", "cancelled"])
        }
    }

    @Test func cancellationIsNoticedByTheHeartbeatWithoutNotifications() async throws {
        // The service is not run: no listener, so only the heartbeat can notice.
        let jobs = try await Self.makeService(heartbeat: .milliseconds(200))
        let other = JobService(pool: PostgresConnectionPool(connection: jobs.pool.connectionConfiguration))
        let ids = IDBox()
        let run = Task {
            try await jobs.runAsJob("long") { job -> Int in
                ids.set(job.id)
                try await Task.sleep(for: .seconds(60))
                return 1
            }
        }
        #expect(try await Self.eventually { ids.value != nil })
        try await other.cancel(try #require(ids.value))
        let error = await #expect(throws: JobError.self) { try await run.value }
        #expect(error?.code == .cancelled)
        #expect(try await jobs.job(try #require(ids.value)).status == .cancelled)
    }

    @Test func timeoutFailsTheJob() async throws {
        let jobs = try await Self.makeService()
        let ids = IDBox()
        let error = await #expect(throws: JobError.self) {
            _ = try await jobs.runAsJob("slow", options: .init(timeout: .milliseconds(300))) { job -> Int in
                ids.set(job.id)
                try await Task.sleep(for: .seconds(60))
                return 1
            }
        }
        #expect(error?.code == .timedOut)
        let row = try await jobs.job(try #require(ids.value))
        #expect(row.status == .failed)
        #expect(row.errorMessage?.contains("timed out") == true)
    }

    @Test func lostLeaseStopsTheRunAndWritesNothing() async throws {
        let jobs = try await Self.makeService(heartbeat: .milliseconds(200))
        let ids = IDBox()
        let run = Task {
            try await jobs.runAsJob("long") { job -> Int in
                ids.set(job.id)
                try await Task.sleep(for: .seconds(60))
                return 1
            }
        }
        #expect(try await Self.eventually { ids.value != nil })
        let id = try #require(ids.value)
        // Another worker took the job over.
        let newToken = UUID()
        try await jobs.pool.query("UPDATE jobkit.jobs SET lease_token = \(newToken), lease_owner = 'other' WHERE id = \(id)")
        let error = await #expect(throws: JobError.self) { try await run.value }
        #expect(error?.code == .leaseLost)
        let row = try await jobs.job(id)
        #expect(row.status == .inProgress)
        #expect(row.lease?.token == newToken)
    }

    @Test func progressOutOfRangeIsRejectedAndTheRunGoesOn() async throws {
        let jobs = try await Self.makeService()
        let ids = IDBox()
        let result = try await jobs.runAsJob("ocr") { job -> Int in
            ids.set(job.id)
            await #expect(throws: JobError.invalidProgress(140)) { try await job.progress(140) }
            try await job.progress(30, step: "ok")
            return 7
        }
        #expect(result == 7)
        #expect(try await jobs.job(try #require(ids.value)).status == .done)
    }

    @Test func badInputWritesNoRow() async throws {
        let jobs = try await Self.makeService()
        await #expect(throws: JobError.invalidArgument("")) {
            _ = try await jobs.runAsJob("") { _ in 1 }
        }
        await #expect(throws: JobError.invalidArgument("")) {
            _ = try await jobs.runAsJob("x", options: .init(maxAttempts: 0)) { _ in 1 }
        }
        #expect(try await jobs.list().jobs.isEmpty)
    }

    @Test func trackedFunctionRunsEveryCallAsAJob() async throws {
        let jobs = try await Self.makeService()
        let summarize = jobs.tracked("summarize", reference: { JobReference("document", $0.name) }) { (document: Document) async throws -> Summary in
            Summary(words: document.pages.count * 10, tags: [:])
        }
        let first = try await summarize(Document(name: "a", pages: [1, 2, 3]))
        let second = try await summarize(Document(name: "b", pages: [1]))
        #expect(first.words == 30)
        #expect(second.words == 10)
        let page = try await jobs.list(JobFilter(types: ["summarize"]))
        #expect(page.jobs.count == 2)
        #expect(page.jobs.allSatisfy { $0.status == .done })
        #expect(Set(page.jobs.compactMap(\.reference?.id)) == ["a", "b"])
        #expect(try page.jobs.first { $0.reference?.id == "a" }?.result(as: Summary.self)?.words == 30)
    }

    @Test func updatesSeeEveryStepOfARun() async throws {
        let jobs = try await Self.makeService()
        try await Self.whileRunning(jobs) {
            let ids = IDBox()
            let observerReady = IDBox()
            let run = Task {
                try await jobs.runAsJob("steps") { job -> Int in
                    ids.set(job.id)
                    _ = try await Self.eventually { observerReady.value != nil }
                    for percent in stride(from: 20, through: 80, by: 20) {
                        try await job.progress(percent, step: "step \(percent)")
                        try await Task.sleep(for: .milliseconds(30))
                    }
                    return 1
                }
            }
            #expect(try await Self.eventually { ids.value != nil })
            let id = try #require(ids.value)
            var seen: [JobUpdate] = []
            for try await update in jobs.updates(of: id) {
                seen.append(update)
                observerReady.set(id)
            }
            _ = try await run.value
            #expect(seen.first?.status == .inProgress)
            #expect(seen.last?.status == .done)
            #expect(seen.map(\.progress) == [0, 20, 40, 60, 80, 100])
            #expect(seen.compactMap(\.step).contains("step 60"))
        }
    }

    @Test func resultWaitsForAJobFinishedElsewhere() async throws {
        let jobs = try await Self.makeService()
        let created = try await jobs.create("report")
        let waiter = Task { try await jobs.result(of: created.id, as: Summary.self) }
        let started = try await jobs.start(created.id)
        try await jobs.complete(created.id, result: Summary(words: 5, tags: ["a": 2]), lease: started.lease?.token)
        #expect(try await waiter.value == Summary(words: 5, tags: ["a": 2]))

        let failing = try await jobs.create("report")
        let failingWaiter = Task { try await jobs.result(of: failing.id, as: Summary.self) }
        _ = try await jobs.start(failing.id)
        try await jobs.fail(failing.id, message: "disk full")
        let error = await #expect(throws: JobError.self) { try await failingWaiter.value }
        #expect(error?.code == .jobFailed)
        #expect(error?.message == "disk full")
    }
}

/// A value set once from inside a job and read by the test.
final class IDBox: Sendable {
    private let storage = Mutex<UUID?>(nil)
    var value: UUID? { self.storage.withLock { $0 } }
    func set(_ id: UUID) { self.storage.withLock { $0 = id } }
}

struct PairResult: Codable, Sendable {
    var summary: RunAsJobTests.Summary
    var id: UUID
}
