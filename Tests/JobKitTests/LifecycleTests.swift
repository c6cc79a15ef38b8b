import Foundation
import JobKit
import LibPQ
import PostgresTestSupport
import Testing

/// Driving jobs through their lifecycle by hand, against a real PostgreSQL: every legal move,
/// every illegal one, bad input, unknown ids, stale leases, races, history, locks and retention.
@Suite(.timeLimit(.minutes(3)))
struct LifecycleTests {
    // MARK: - Creating

    @Test func createStoresAScheduledJobWithItsOptions() async throws {
        try await withJobKitFixture("lifecycle") { fixture in
            let runAt = Date(timeIntervalSince1970: 1_900_000_000)
            let created = try await fixture.jobs.create("ocr", payload: ["page": 3], options: .init(
                queue: "scans", priority: 5, runAt: runAt, maxAttempts: 4, timeout: .seconds(90),
                reference: .init("document", "doc-1"), uniqueKey: "ocr-doc-1"))

            #expect(created.status == .scheduled)
            #expect(created.type == "ocr")
            #expect(created.queue == "scans")
            #expect(created.priority == 5)
            #expect(created.runAt == runAt)
            #expect(created.maxAttempts == 4)
            #expect(created.attempt == 0)
            #expect(created.timeout == .seconds(90))
            #expect(created.reference == JobReference("document", "doc-1"))
            #expect(created.uniqueKey == "ocr-doc-1")
            #expect(created.lease == nil)
            #expect(created.startedAt == nil && created.finishedAt == nil)
            #expect(try created.payload(as: [String: Int].self) == ["page": 3])
            #expect(try await fixture.jobs.job(created.id) == created)
        }
    }

    // MARK: - Legal transitions

    @Test func startMovesAScheduledJobToInProgressUnderANewLease() async throws {
        try await withJobKitFixture("lifecycle") { fixture in
            let job = try await fixture.job(in: .scheduled)
            let started = try await fixture.jobs.start(job.id, owner: "worker-7")

            #expect(started.status == .inProgress)
            #expect(started.attempt == 1)
            let lease = try #require(started.lease)
            #expect(lease.owner == "worker-7")
            let startedAt = try #require(started.startedAt)
            #expect(lease.expiresAt > startedAt)
            #expect(started.finishedAt == nil)
            #expect(try await fixture.jobs.job(job.id) == started)
        }
    }

    @Test func startWithoutAnOwnerLeasesToTheServicesWorkerID() async throws {
        try await withJobKitFixture("lifecycle") { fixture in
            let job = try await fixture.job(in: .scheduled)
            let started = try await fixture.jobs.start(job.id)
            #expect(started.lease?.owner == "worker-main")
        }
    }

    @Test func eachStartGetsAFreshLeaseToken() async throws {
        try await withJobKitFixture("lifecycle") { fixture in
            let job = try await fixture.job(in: .scheduled, options: .init(maxAttempts: 2))
            let first = try #require(try await fixture.jobs.start(job.id).lease)
            try await fixture.expireLeaseAndReschedule(job.id)
            let second = try await fixture.jobs.start(job.id)
            #expect(second.attempt == 2)
            #expect(try #require(second.lease).token != first.token)
        }
    }

    @Test func reportProgressRecordsPercentAndStep() async throws {
        try await withJobKitFixture("lifecycle") { fixture in
            let job = try await fixture.job(in: .scheduled)
            let lease = try #require(try await fixture.jobs.start(job.id).lease)

            let cancelRequested = try await fixture.jobs.reportProgress(job.id, percent: 40, step: "pages", lease: lease.token)
            #expect(!cancelRequested)
            let afterStep = try await fixture.jobs.job(job.id)
            #expect(afterStep.progress == 40)
            #expect(afterStep.currentStep == "pages")

            try await fixture.jobs.reportProgress(job.id, percent: 70, lease: lease.token)
            let afterPercent = try await fixture.jobs.job(job.id)
            #expect(afterPercent.progress == 70)
            #expect(afterPercent.currentStep == "pages", "a nil step keeps the last one")
            #expect(afterPercent.status == .inProgress)
        }
    }

    @Test func completeMovesARunningJobToDoneWithItsResult() async throws {
        try await withJobKitFixture("lifecycle") { fixture in
            let job = try await fixture.job(in: .scheduled)
            let lease = try #require(try await fixture.jobs.start(job.id).lease)
            let done = try await fixture.jobs.complete(job.id, result: ["words": 1200], lease: lease.token)

            #expect(done.status == .done)
            #expect(done.progress == 100)
            #expect(done.finishedAt != nil)
            #expect(done.lease == nil)
            #expect(try done.result(as: [String: Int].self) == ["words": 1200])
            #expect(try await fixture.jobs.job(job.id) == done)
        }
    }

    @Test func failWithoutRetryMovesARunningJobToFailed() async throws {
        try await withJobKitFixture("lifecycle") { fixture in
            let job = try await fixture.job(in: .scheduled, options: .init(maxAttempts: 3))
            let lease = try #require(try await fixture.jobs.start(job.id).lease)
            let failed = try await fixture.jobs.fail(job.id, message: "scanner offline", lease: lease.token)

            #expect(failed.status == .failed)
            #expect(failed.errorMessage == "scanner offline")
            #expect(failed.finishedAt != nil)
            #expect(failed.lease == nil)
            #expect(failed.attempt == 1 && failed.maxAttempts == 3, "a failure without retryAfter is final")
            let events = try await fixture.jobs.history(of: job.id)
            #expect(events.map(\.kind) == ["failed"])
        }
    }

    @Test func failWithRetryAfterWhileAttemptsRemainSchedulesTheNextAttemptLater() async throws {
        try await withJobKitFixture("lifecycle") { fixture in
            let job = try await fixture.job(in: .scheduled, options: .init(maxAttempts: 3))
            let lease = try #require(try await fixture.jobs.start(job.id).lease)
            let retrying = try await fixture.jobs.fail(job.id, message: "rate limited", retryAfter: .seconds(30), lease: lease.token)

            #expect(retrying.status == .scheduled)
            #expect(retrying.errorMessage == "rate limited")
            #expect(retrying.lease == nil)
            #expect(retrying.finishedAt == nil)
            #expect(retrying.attempt == 1)
            // run_at and updated_at come from the same statement's now().
            #expect(abs(retrying.runAt.timeIntervalSince(retrying.updatedAt) - 30) < 0.001)
            #expect(retrying.runAt > (try await fixture.databaseNow()))

            let event = try #require(try await fixture.jobs.history(of: job.id).onlyElement)
            #expect(event.kind == "retry_scheduled")
            #expect(event.message == "rate limited")
            #expect(event.fromStatus == .inProgress && event.toStatus == .scheduled)
            #expect(event.attempt == 1)
        }
    }

    @Test func failWithRetryAfterOnTheLastAttemptFailsForGood() async throws {
        try await withJobKitFixture("lifecycle") { fixture in
            let job = try await fixture.job(in: .scheduled, options: .init(maxAttempts: 1))
            let lease = try #require(try await fixture.jobs.start(job.id).lease)
            let failed = try await fixture.jobs.fail(job.id, message: "still broken", retryAfter: .seconds(30), lease: lease.token)

            #expect(failed.status == .failed)
            #expect(failed.errorMessage == "still broken")
            #expect(failed.finishedAt != nil)
            let events = try await fixture.jobs.history(of: job.id)
            #expect(events.map(\.kind) == ["failed"])
        }
    }

    @Test func cancelCancelsAScheduledJobAtOnce() async throws {
        try await withJobKitFixture("lifecycle") { fixture in
            let job = try await fixture.job(in: .scheduled)
            let cancelled = try await fixture.jobs.cancel(job.id, reason: "customer left", actor: "support")

            #expect(cancelled.status == .cancelled)
            #expect(cancelled.finishedAt != nil)
            let event = try #require(try await fixture.jobs.history(of: job.id).onlyElement)
            #expect(event.kind == "cancelled")
            #expect(event.fromStatus == .scheduled && event.toStatus == .cancelled)
            #expect(event.message == "customer left")
            #expect(event.actor == "support")
        }
    }

    @Test func cancelCancelsAFailedJobAtOnce() async throws {
        try await withJobKitFixture("lifecycle") { fixture in
            let job = try await fixture.job(in: .failed)
            let cancelled = try await fixture.jobs.cancel(job.id, reason: "not worth retrying", actor: "ops")

            #expect(cancelled.status == .cancelled)
            #expect(cancelled.finishedAt != nil)
            let event = try #require(try await fixture.jobs.history(of: job.id).last)
            #expect(event.kind == "cancelled")
            #expect(event.fromStatus == .failed && event.toStatus == .cancelled)
            #expect(event.actor == "ops")
        }
    }

    @Test func cancelOfARunningJobRequestsCancellationAndLeavesItRunning() async throws {
        try await withJobKitFixture("lifecycle") { fixture in
            let job = try await fixture.job(in: .scheduled)
            let started = try await fixture.jobs.start(job.id)
            let requested = try await fixture.jobs.cancel(job.id, reason: "user pressed stop", actor: "alice")

            #expect(requested.status == .inProgress)
            #expect(requested.cancelRequestedAt != nil)
            #expect(requested.lease == started.lease, "the runner keeps its lease until it stops")
            #expect(requested.finishedAt == nil)
            let event = try #require(try await fixture.jobs.history(of: job.id).onlyElement)
            #expect(event.kind == "cancel_requested")
            #expect(event.message == "user pressed stop")
            #expect(event.actor == "alice")
            #expect(event.fromStatus == .inProgress && event.toStatus == .inProgress)
        }
    }

    @Test func reportProgressTellsTheRunnerAboutARequestedCancellation() async throws {
        try await withJobKitFixture("lifecycle") { fixture in
            let job = try await fixture.job(in: .scheduled)
            let lease = try #require(try await fixture.jobs.start(job.id).lease)
            try await fixture.jobs.cancel(job.id)
            #expect(try await fixture.jobs.reportProgress(job.id, percent: 10, lease: lease.token))
        }
    }

    @Test func retryOfAFailedJobSchedulesItNowAndGrantsAnotherAttempt() async throws {
        try await withJobKitFixture("lifecycle") { fixture in
            let job = try await fixture.job(in: .failed, options: .init(maxAttempts: 1))
            #expect(job.attempt == 1 && job.maxAttempts == 1)
            let retried = try await fixture.jobs.retry(job.id, actor: "bob")

            #expect(retried.status == .scheduled)
            #expect(retried.maxAttempts == 2)
            #expect(retried.attempt == 1)
            #expect(retried.finishedAt == nil)
            #expect(retried.runAt <= (try await fixture.databaseNow()))
            let event = try #require(try await fixture.jobs.history(of: job.id).last)
            #expect(event.kind == "retried")
            #expect(event.actor == "bob")
            #expect(event.fromStatus == .failed && event.toStatus == .scheduled)

            let restarted = try await fixture.jobs.start(job.id)
            #expect(restarted.attempt == 2)
        }
    }

    @Test func retryKeepsMaxAttemptsWhenAttemptsRemain() async throws {
        try await withJobKitFixture("lifecycle") { fixture in
            let job = try await fixture.job(in: .failed, options: .init(maxAttempts: 3))
            let retried = try await fixture.jobs.retry(job.id)
            #expect(retried.status == .scheduled)
            #expect(retried.maxAttempts == 3)
        }
    }

    @Test(arguments: JobStatus.allCases)
    func isTerminalIsTrueOnlyForDoneAndCancelled(_ status: JobStatus) async throws {
        try await withJobKitFixture("lifecycle") { fixture in
            let job = try await fixture.job(in: status)
            #expect(try await fixture.jobs.isTerminal(job.id) == (status == .done || status == .cancelled))
        }
    }

    // MARK: - Illegal transitions

    /// A lifecycle call of the public API.
    enum Operation: String, Sendable, CaseIterable {
        case start, complete, fail, failWithRetry, cancel, retry, progress

        /// The status the call asks for.
        var requested: JobStatus {
            switch self {
            case .start, .progress: .inProgress
            case .complete: .done
            case .fail: .failed
            case .failWithRetry, .retry: .scheduled
            case .cancel: .cancelled
            }
        }

        /// The statuses the call is legal from.
        var legalFrom: Set<JobStatus> {
            switch self {
            case .start: [.scheduled]
            case .complete, .fail, .failWithRetry, .progress: [.inProgress]
            case .cancel: [.scheduled, .inProgress, .failed]
            case .retry: [.failed]
            }
        }

        func perform(on id: UUID, with jobs: JobService, lease: UUID? = nil) async throws {
            switch self {
            case .start: _ = try await jobs.start(id)
            case .complete: try await jobs.complete(id, result: ["pages": 2], lease: lease)
            case .fail: try await jobs.fail(id, message: "boom", lease: lease)
            case .failWithRetry: try await jobs.fail(id, message: "boom", retryAfter: .seconds(5), lease: lease)
            case .cancel: try await jobs.cancel(id, reason: "no longer needed", actor: "tester")
            case .retry: try await jobs.retry(id, actor: "tester")
            case .progress: try await jobs.reportProgress(id, percent: 50, step: "halfway", lease: lease)
            }
        }
    }

    struct IllegalCase: Sendable, CustomTestStringConvertible {
        var operation: Operation
        var status: JobStatus
        var testDescription: String { "\(self.operation) of a \(self.status) job" }

        static let all: [IllegalCase] = Operation.allCases.flatMap { operation in
            JobStatus.allCases.filter { !operation.legalFrom.contains($0) }.map { IllegalCase(operation: operation, status: $0) }
        }
    }

    @Test(arguments: IllegalCase.all)
    func illegalTransitionIsRefusedAndChangesNothing(_ illegal: IllegalCase) async throws {
        try await withJobKitFixture("lifecycle") { fixture in
            let before = try await fixture.job(in: illegal.status)
            let historyBefore = try await fixture.jobs.history(of: before.id)

            let error = try await #require(throws: JobError.self) {
                try await illegal.operation.perform(on: before.id, with: fixture.jobs)
            }
            #expect(error.code == .illegalTransition)
            #expect(error.jobID == before.id)
            #expect(error.currentStatus == illegal.status)
            #expect(error.requestedStatus == illegal.operation.requested)
            #expect(error.description == "job \(before.id.uuidString.lowercased()) cannot move from \(illegal.status.rawValue) to \(illegal.operation.requested.rawValue)")

            #expect(try await fixture.jobs.job(before.id) == before)
            #expect(try await fixture.jobs.history(of: before.id) == historyBefore)
        }
    }

    // MARK: - Bad input

    @Test(arguments: [140, -1, 101, Int.min])
    func progressOutsideZeroToHundredIsRefusedWithItsValue(_ percent: Int) async throws {
        try await withJobKitFixture("lifecycle") { fixture in
            let job = try await fixture.job(in: .scheduled)
            let before = try await fixture.jobs.start(job.id)

            let error = try await #require(throws: JobError.self) {
                try await fixture.jobs.reportProgress(job.id, percent: percent, step: "too far", lease: before.lease?.token)
            }
            #expect(error.code == .invalidProgress)
            #expect(error.progress == percent)
            #expect(error.description.contains("\(percent)"))
            #expect(try await fixture.jobs.job(job.id) == before)
        }
    }

    @Test func invalidProgressIsRefusedBeforeTheJobIsLookedUp() async throws {
        try await withJobKitFixture("lifecycle") { fixture in
            let error = try await #require(throws: JobError.self) {
                try await fixture.jobs.reportProgress(UUID(), percent: 140)
            }
            #expect(error.code == .invalidProgress, "an unknown id would say notFound had SQL run")
        }
    }

    struct InvalidCreation: Sendable, CustomTestStringConvertible {
        var testDescription: String
        var type: String
        var options: JobOptions

        static let all: [InvalidCreation] = [
            .init(testDescription: "maxAttempts 0", type: "ocr", options: .init(maxAttempts: 0)),
            .init(testDescription: "maxAttempts -2", type: "ocr", options: .init(maxAttempts: -2)),
            .init(testDescription: "empty type", type: "", options: .init()),
            .init(testDescription: "empty queue", type: "ocr", options: .init(queue: "")),
            .init(testDescription: "priority beyond smallint", type: "ocr", options: .init(priority: 40_000)),
            .init(testDescription: "zero timeout", type: "ocr", options: .init(timeout: .zero)),
        ]
    }

    @Test(arguments: InvalidCreation.all)
    func createWithInvalidOptionsIsRefusedBeforeAnyRowIsWritten(_ invalid: InvalidCreation) async throws {
        try await withJobKitFixture("lifecycle") { fixture in
            let error = try await #require(throws: JobError.self) {
                try await fixture.jobs.create(invalid.type, options: invalid.options)
            }
            #expect(error.code == .invalidArgument)
            #expect(error.message?.isEmpty == false)
            #expect(try await fixture.count("jobs") == 0)
        }
    }

    @Test(arguments: InvalidCreation.all)
    func getOrCreateWithInvalidOptionsIsRefusedBeforeAnyRowIsWritten(_ invalid: InvalidCreation) async throws {
        try await withJobKitFixture("lifecycle") { fixture in
            let error = try await #require(throws: JobError.self) {
                try await fixture.jobs.getOrCreate(uniqueKey: "key-1", type: invalid.type, options: invalid.options)
            }
            #expect(error.code == .invalidArgument)
            #expect(try await fixture.count("jobs") == 0)
        }
    }

    @Test func invalidOptionsAreRefusedWithoutTouchingTheDatabase() async throws {
        // A closed pool fails every statement: reaching SQL would throw a PostgresError instead.
        let pool = PostgresConnectionPool(connection: .init("postgresql://nobody@127.0.0.1:1/none"))
        await pool.close()
        let jobs = JobService(pool: pool)
        let error = try await #require(throws: JobError.self) {
            try await jobs.create("ocr", options: .init(maxAttempts: 0))
        }
        #expect(error.code == .invalidArgument)
    }

    // MARK: - Unknown ids

    enum Lookup: String, Sendable, CaseIterable {
        case get, isTerminal, start, complete, fail, failWithRetry, cancel, retry, progress, history, withJobLock

        func perform(on id: UUID, with jobs: JobService) async throws {
            switch self {
            case .get: _ = try await jobs.job(id)
            case .isTerminal: _ = try await jobs.isTerminal(id)
            case .start: _ = try await jobs.start(id)
            case .complete: try await jobs.complete(id)
            case .fail: try await jobs.fail(id, message: "boom")
            case .failWithRetry: try await jobs.fail(id, message: "boom", retryAfter: .seconds(1))
            case .cancel: try await jobs.cancel(id)
            case .retry: try await jobs.retry(id)
            case .progress: try await jobs.reportProgress(id, percent: 10)
            case .history: _ = try await jobs.history(of: id)
            case .withJobLock: try await jobs.withJobLock(id) { _, _ in }
            }
        }
    }

    @Test(arguments: Lookup.allCases)
    func unknownIDIsReportedAsNotFound(_ lookup: Lookup) async throws {
        try await withJobKitFixture("lifecycle") { fixture in
            _ = try await fixture.job(in: .scheduled)
            let unknown = UUID()
            let error = try await #require(throws: JobError.self) {
                try await lookup.perform(on: unknown, with: fixture.jobs)
            }
            #expect(error.code == .notFound)
            #expect(error.jobID == unknown)
            #expect(error.description == "job \(unknown.uuidString.lowercased()) does not exist")
            #expect(try await fixture.count("jobs") == 1)
        }
    }

    @Test func jobByUnknownUniqueKeyIsNil() async throws {
        try await withJobKitFixture("lifecycle") { fixture in
            let job = try await fixture.jobs.create("ocr", options: .init(uniqueKey: "known"))
            #expect(try await fixture.jobs.job(uniqueKey: "known") == job)
            #expect(try await fixture.jobs.job(uniqueKey: "unknown") == nil)
        }
    }

    // MARK: - Leases

    enum LeasedOperation: String, Sendable, CaseIterable {
        case complete, fail, failWithRetry, progress

        var operation: Operation {
            switch self {
            case .complete: .complete
            case .fail: .fail
            case .failWithRetry: .failWithRetry
            case .progress: .progress
            }
        }
    }

    @Test(arguments: LeasedOperation.allCases)
    func staleLeaseCannotChangeAJobThatWasTakenOver(_ leased: LeasedOperation) async throws {
        try await withJobKitFixture("lifecycle") { fixture in
            let job = try await fixture.job(in: .scheduled, options: .init(maxAttempts: 3))
            let stale = try #require(try await fixture.jobs.start(job.id, owner: "worker-a").lease)
            try await fixture.expireLeaseAndReschedule(job.id)
            let takenOver = try await fixture.jobs.start(job.id, owner: "worker-b")
            let historyBefore = try await fixture.jobs.history(of: job.id)

            let error = try await #require(throws: JobError.self) {
                try await leased.operation.perform(on: job.id, with: fixture.jobs, lease: stale.token)
            }
            #expect(error.code == .leaseLost)
            #expect(error.jobID == job.id)
            #expect(try await fixture.jobs.job(job.id) == takenOver)
            #expect(try await fixture.jobs.history(of: job.id) == historyBefore)
        }
    }

    @Test func currentLeaseCompletesAJobAfterATakeover() async throws {
        try await withJobKitFixture("lifecycle") { fixture in
            let job = try await fixture.job(in: .scheduled, options: .init(maxAttempts: 3))
            _ = try await fixture.jobs.start(job.id, owner: "worker-a")
            try await fixture.expireLeaseAndReschedule(job.id)
            let current = try #require(try await fixture.jobs.start(job.id, owner: "worker-b").lease)

            let done = try await fixture.jobs.complete(job.id, result: ["ok": true], lease: current.token)
            #expect(done.status == .done)
        }
    }

    @Test func staleLeaseCannotCompleteAJobThatIsNoLongerRunning() async throws {
        try await withJobKitFixture("lifecycle") { fixture in
            let job = try await fixture.job(in: .scheduled, options: .init(maxAttempts: 3))
            let stale = try #require(try await fixture.jobs.start(job.id).lease)
            try await fixture.expireLeaseAndReschedule(job.id)
            let before = try await fixture.jobs.job(job.id)

            let error = try await #require(throws: JobError.self) {
                try await fixture.jobs.complete(job.id, lease: stale.token)
            }
            #expect(error.code == .illegalTransition)
            #expect(error.currentStatus == .scheduled && error.requestedStatus == .done)
            #expect(try await fixture.jobs.job(job.id) == before)
        }
    }

    // MARK: - Races

    @Test func concurrentStartsFromTwoServicesHaveExactlyOneWinner() async throws {
        try await withJobKitFixture("lifecycle") { fixture in
            let other = fixture.makeService(workerID: "worker-other")
            try await openConnections(fixture.pool, count: 10)
            try await openConnections(other.pool, count: 10)
            let job = try await fixture.job(in: .scheduled)

            let outcomes = try await withThrowingTaskGroup(of: Result<Job, JobError>.self) { group in
                for index in 0..<20 {
                    let service = index.isMultiple(of: 2) ? fixture.jobs : other
                    group.addTask {
                        do {
                            return .success(try await service.start(job.id, owner: "racer-\(index)"))
                        } catch let error as JobError {
                            return .failure(error)
                        }
                    }
                }
                return try await group.reduce(into: [Result<Job, JobError>]()) { $0.append($1) }
            }

            let winners = outcomes.compactMap { try? $0.get() }
            let losers = outcomes.compactMap { outcome -> JobError? in
                if case .failure(let error) = outcome { return error }
                return nil
            }
            let winner = try #require(winners.onlyElement)
            #expect(losers.count == 19)
            for error in losers {
                #expect(error.code == .illegalTransition)
                #expect(error.currentStatus == .inProgress && error.requestedStatus == .inProgress)
            }
            let stored = try await fixture.jobs.job(job.id)
            #expect(stored == winner)
            #expect(stored.attempt == 1)
        }
    }

    @Test func concurrentGetOrCreateWithOneKeyCreatesExactlyOneJob() async throws {
        try await withJobKitFixture("lifecycle") { fixture in
            let other = fixture.makeService(workerID: "worker-other")
            try await openConnections(fixture.pool, count: 10)
            try await openConnections(other.pool, count: 10)

            let outcomes = try await withThrowingTaskGroup(of: (job: Job, created: Bool).self) { group in
                for index in 0..<20 {
                    let service = index.isMultiple(of: 2) ? fixture.jobs : other
                    group.addTask {
                        try await service.getOrCreate(uniqueKey: "report-2024-06", type: "report", payload: ["caller": index])
                    }
                }
                return try await group.reduce(into: [(job: Job, created: Bool)]()) { $0.append($1) }
            }

            #expect(outcomes.count == 20)
            #expect(outcomes.filter(\.created).count == 1)
            #expect(Set(outcomes.map(\.job.id)).count == 1)
            #expect(try await fixture.count("jobs", where: "unique_key = 'report-2024-06'") == 1)
            #expect(try await fixture.count("jobs") == 1)
        }
    }

    @Test func getOrCreateReturnsTheExistingJobUnchanged() async throws {
        try await withJobKitFixture("lifecycle") { fixture in
            let first = try await fixture.jobs.getOrCreate(uniqueKey: "k", type: "ocr", payload: ["v": 1])
            let second = try await fixture.jobs.getOrCreate(uniqueKey: "k", type: "other", payload: ["v": 2], options: .init(queue: "q2"))
            #expect(first.created)
            #expect(!second.created)
            #expect(second.job == first.job)
            #expect(try second.job.payload(as: [String: Int].self) == ["v": 1])
        }
    }

    @Test func createWithATakenUniqueKeyIsADuplicate() async throws {
        try await withJobKitFixture("lifecycle") { fixture in
            let existing = try await fixture.jobs.create("invoice", options: .init(uniqueKey: "invoice-42"))
            let error = try await #require(throws: JobError.self) {
                try await fixture.jobs.create("invoice", options: .init(uniqueKey: "invoice-42"))
            }
            #expect(error.code == .duplicate)
            #expect(error.uniqueKey == "invoice-42")
            #expect(error.description.contains("invoice-42"))
            #expect(try await fixture.count("jobs") == 1)
            #expect(try await fixture.jobs.job(existing.id) == existing)
        }
    }

    // MARK: - Results and payloads

    struct Inspection: Codable, Sendable, Equatable {
        struct Finding: Codable, Sendable, Equatable {
            var page: Int
            var words: [String]
            var confidence: Double?
            var seenAt: Date?
        }

        var document: String
        var findings: [Finding]
        var byLanguage: [String: [Finding]]
        var totals: [String: Int]
        var reviewer: String?
        var finishedAt: Date
        var flags: [Bool]
        var empty: [String]
    }

    static let inspection = Inspection(
        document: "contract \"draft\" – ünïcødé ✓",
        findings: [
            .init(page: 1, words: ["alpha", "beta"], confidence: 0.75, seenAt: Date(timeIntervalSince1970: 1_700_000_000)),
            .init(page: 2, words: [], confidence: nil, seenAt: nil),
        ],
        byLanguage: [
            "en": [.init(page: 3, words: ["gamma"], confidence: 1, seenAt: Date(timeIntervalSince1970: 1_700_000_060))],
            "de": [],
        ],
        totals: ["pages": 3, "words": 3, "negative": -7],
        reviewer: nil,
        finishedAt: Date(timeIntervalSince1970: 1_717_171_717),
        flags: [true, false, true],
        empty: [])

    @Test func nestedCodableResultRoundTrips() async throws {
        try await withJobKitFixture("lifecycle") { fixture in
            let job = try await fixture.jobs.create("inspect", payload: Self.inspection)
            _ = try await fixture.jobs.start(job.id)
            try await fixture.jobs.complete(job.id, result: Self.inspection)

            let stored = try await fixture.jobs.job(job.id)
            #expect(try stored.result(as: Inspection.self) == Self.inspection)
            #expect(try stored.payload(as: Inspection.self) == Self.inspection)
        }
    }

    @Test func resultOfAnUnfinishedJobIsNil() async throws {
        try await withJobKitFixture("lifecycle") { fixture in
            let job = try await fixture.job(in: .inProgress)
            #expect(try job.result(as: Inspection.self) == nil)
        }
    }

    @Test func payloadOfTheWrongTypeIsAPayloadDecodingError() async throws {
        try await withJobKitFixture("lifecycle") { fixture in
            let job = try await fixture.jobs.create("inspect", payload: ["page": "three"])
            let error = try #require(throws: JobError.self) {
                try job.payload(as: Inspection.self)
            }
            #expect(error.code == .payloadDecoding)
            #expect(error.jobID == job.id)
            #expect(error.message?.contains("Inspection") == true)
        }
    }

    // MARK: - History

    @Test func historyOfAPlainSuccessIsEmpty() async throws {
        try await withJobKitFixture("lifecycle") { fixture in
            let job = try await fixture.job(in: .scheduled)
            let lease = try #require(try await fixture.jobs.start(job.id).lease)
            try await fixture.jobs.reportProgress(job.id, percent: 50, step: "half", lease: lease.token)
            try await fixture.jobs.complete(job.id, lease: lease.token)

            #expect(try await fixture.jobs.history(of: job.id).isEmpty)
            #expect(try await fixture.count("job_events") == 0)
        }
    }

    @Test func historyRecordsFailuresRetriesAndCancellationsWithMessagesAndActors() async throws {
        try await withJobKitFixture("lifecycle") { fixture in
            let job = try await fixture.job(in: .scheduled, options: .init(maxAttempts: 2))
            _ = try await fixture.jobs.start(job.id)
            try await fixture.jobs.fail(job.id, message: "disk full", retryAfter: .seconds(60))
            _ = try await fixture.jobs.start(job.id)
            try await fixture.jobs.fail(job.id, message: "disk still full", retryAfter: .seconds(60))
            try await fixture.jobs.retry(job.id, actor: "alice")
            try await fixture.jobs.cancel(job.id, reason: "superseded", actor: "bob")

            let events = try await fixture.jobs.history(of: job.id)
            #expect(events.map(\.kind) == ["retry_scheduled", "failed", "retried", "cancelled"])
            #expect(events.map(\.message) == ["disk full", "disk still full", nil, "superseded"])
            #expect(events.map(\.actor) == [nil, nil, "alice", "bob"])
            #expect(events.map(\.fromStatus) == [.inProgress, .inProgress, .failed, .scheduled])
            #expect(events.map(\.toStatus) == [.scheduled, .failed, .scheduled, .cancelled])
            #expect(events.map(\.attempt) == [1, 2, 2, 2])
            #expect(events.allSatisfy { $0.jobID == job.id })
            #expect(events.map(\.id) == events.map(\.id).sorted())
            #expect(zip(events, events.dropFirst()).allSatisfy { $0.at <= $1.at })
        }
    }

    @Test func historyOfOneJobHoldsNoOtherJobsEvents() async throws {
        try await withJobKitFixture("lifecycle") { fixture in
            let quiet = try await fixture.job(in: .scheduled)
            _ = try await fixture.job(in: .failed)
            _ = try await fixture.job(in: .cancelled)
            #expect(try await fixture.jobs.history(of: quiet.id).isEmpty)
        }
    }

    // MARK: - Row locks

    @Test func secondJobLockWaitsUntilTheFirstEnds() async throws {
        try await withJobKitFixture("lifecycle") { fixture in
            let job = try await fixture.job(in: .scheduled)
            let log = OrderLog()
            let (firstInside, signalFirstInside) = AsyncStream<Int32>.makeStream()

            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await fixture.jobs.withJobLock(job.id) { locked, connection in
                        await log.record("first acquired")
                        let pid = try #require(try await connection.query("SELECT pg_backend_pid()").first).decode(Int32.self, at: 0)
                        signalFirstInside.yield(pid)
                        // Hold the lock until the second caller is seen blocked behind it.
                        try await pollUntil("the second withJobLock to wait for backend \(pid)") {
                            let blocked = try await fixture.pool.query(
                                "SELECT count(*) FROM pg_stat_activity WHERE \(pid) = ANY(pg_blocking_pids(pid))")
                            return try #require(blocked.first).decode(Int.self, at: 0) >= 1
                        }
                        try await connection.query("UPDATE jobkit.jobs SET priority = 9 WHERE id = \(locked.id)")
                        await log.record("first releasing")
                    }
                }
                var inside = firstInside.makeAsyncIterator()
                _ = try #require(await inside.next())
                group.addTask {
                    try await fixture.jobs.withJobLock(job.id) { locked, _ in
                        await log.record("second acquired, priority \(locked.priority)")
                    }
                }
                try await group.waitForAll()
            }

            #expect(await log.entries == ["first acquired", "first releasing", "second acquired, priority 9"])
        }
    }

    @Test func jobLockGivesTheBodyTheLockedJob() async throws {
        try await withJobKitFixture("lifecycle") { fixture in
            let job = try await fixture.job(in: .inProgress)
            let seen = try await fixture.jobs.withJobLock(job.id) { locked, _ in locked }
            #expect(seen == job)
        }
    }

    @Test func jobLockCommitsTheBodysStatementsWhenItReturns() async throws {
        try await withJobKitFixture("lifecycle") { fixture in
            let job = try await fixture.job(in: .scheduled)
            _ = try await fixture.jobs.withJobLock(job.id) { locked, connection in
                try await connection.query("UPDATE jobkit.jobs SET priority = 3 WHERE id = \(locked.id)")
            }
            #expect(try await fixture.jobs.job(job.id).priority == 3)
        }
    }

    @Test func jobLockRollsBackTheBodysStatementsWhenItThrows() async throws {
        struct Abandon: Error {}
        try await withJobKitFixture("lifecycle") { fixture in
            let job = try await fixture.job(in: .scheduled)
            await #expect(throws: Abandon.self) {
                try await fixture.jobs.withJobLock(job.id) { locked, connection in
                    try await connection.query("UPDATE jobkit.jobs SET priority = 3 WHERE id = \(locked.id)")
                    throw Abandon()
                }
            }
            #expect(try await fixture.jobs.job(job.id) == job)
        }
    }

    // MARK: - Retention

    @Test func cleanupDeletesOnlyOldFinishedJobsInBatchesWithTheirEvents() async throws {
        try await withJobKitFixture("lifecycle") { fixture in
            var old: [UUID] = []
            for index in 0..<35 {
                let status: JobStatus = [.done, .failed, .cancelled][index % 3]
                old.append(try await fixture.job(in: status).id)
            }
            var kept: [UUID] = []
            for status in [JobStatus.done, .failed, .cancelled] {
                kept.append(try await fixture.job(in: status).id)
            }
            let running = [
                try await fixture.job(in: .inProgress).id,
                try await fixture.job(in: .inProgress).id,
                try await fixture.job(in: .scheduled).id,
            ]
            try await fixture.backdate(old + running, by: .seconds(2 * 86_400))
            #expect(try await fixture.count("job_events", where: "job_id = ANY(\(old))") > 0)

            let deleted = try await fixture.jobs.cleanup(olderThan: .seconds(86_400), batchSize: 10)

            #expect(deleted == 35)
            let remaining = try await fixture.pool.query("SELECT id FROM jobkit.jobs").map { try $0.decode(UUID.self, at: 0) }
            #expect(Set(remaining) == Set(kept + running))
            #expect(try await fixture.count("job_events", where: "job_id = ANY(\(old))") == 0)
            #expect(try await fixture.count("job_events", where: "job_id = ANY(\(kept))") == 2, "young failed and cancelled jobs keep their history")
        }
    }

    @Test func cleanupDeletesOnlyTheGivenStatuses() async throws {
        try await withJobKitFixture("lifecycle") { fixture in
            let done = try await fixture.job(in: .done)
            let failed = try await fixture.job(in: .failed)
            let cancelled = try await fixture.job(in: .cancelled)
            try await fixture.backdate([done.id, failed.id, cancelled.id], by: .seconds(7200))

            let deleted = try await fixture.jobs.cleanup(olderThan: .seconds(3600), statuses: [.cancelled, .failed])

            #expect(deleted == 2)
            let remaining = try await fixture.pool.query("SELECT id FROM jobkit.jobs").map { try $0.decode(UUID.self, at: 0) }
            #expect(remaining == [done.id])
        }
    }

    @Test func cleanupWithNothingOldDeletesNothing() async throws {
        try await withJobKitFixture("lifecycle") { fixture in
            _ = try await fixture.job(in: .done)
            #expect(try await fixture.jobs.cleanup(olderThan: .seconds(3600)) == 0)
            #expect(try await fixture.count("jobs") == 1)
        }
    }

    @Test(arguments: [(batchSize: 0, statuses: [JobStatus.done]), (batchSize: 10, statuses: [.done, .inProgress]), (batchSize: 10, statuses: [.scheduled])])
    func cleanupWithInvalidArgumentsIsRefused(_ arguments: (batchSize: Int, statuses: [JobStatus])) async throws {
        try await withJobKitFixture("lifecycle") { fixture in
            let job = try await fixture.job(in: .done)
            try await fixture.backdate([job.id], by: .seconds(7200))
            let error = try await #require(throws: JobError.self) {
                try await fixture.jobs.cleanup(olderThan: .seconds(1), statuses: arguments.statuses, batchSize: arguments.batchSize)
            }
            #expect(error.code == .invalidArgument)
            #expect(try await fixture.count("jobs") == 1)
        }
    }
}
