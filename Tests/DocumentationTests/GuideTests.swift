import Foundation
import JobKit
import LibPQ
import Logging
import Synchronization
import Testing

/// Runs the guides' key samples against a real PostgreSQL and checks what the guides promise.
@Suite(.timeLimit(.minutes(3)))
struct GettingStartedTests {
    @Test func connectMigratesAndTheFirstTrackedJobEndsDone() async throws {
        try await withDocumentationFixture("start") { fixture in
            let jobs = try await GettingStartedSamples.connect(databaseURL: fixture.configuration.connectionString)
            let resized = try await GettingStartedSamples.firstTrackedJob(jobs: jobs)
            #expect(resized.path == "cat-320.png")
            let job = try #require(try await jobs.list(JobFilter(types: ["resize"])).jobs.first)
            #expect(job.status == .done)
            #expect(job.progress == 100)
            #expect(job.currentStep == "decoding")
            #expect(try job.result(as: GettingStartedSamples.Resized.self)?.path == "cat-320.png")
            await jobs.pool.close()
        }
    }

    @Test func anEnqueuedJobRunsOnTheWorkers() async throws {
        try await withDocumentationFixture("start_worker") { fixture in
            let jobs = fixture.jobs
            let id = try await GettingStartedSamples.enqueueWelcome(jobs: jobs)
            #expect(try await jobs.job(id).status == .scheduled)
            try await runUntil("the welcome e-mail job is done") {
                try await GettingStartedSamples.runWorkers(jobs: jobs, logger: Logger(label: "docs"))
            } condition: {
                try await jobs.job(id).status == .done
            }
        }
    }
}

@Suite(.timeLimit(.minutes(3)))
struct ConceptsTests {
    @Test func theTransitionTableAnswersAsTheGuideSays() {
        #expect(ConceptsSamples.transitionTable() == [true, false, false])
    }

    @Test func completingAScheduledJobIsAnIllegalMoveThatChangesNothing() async throws {
        try await withDocumentationFixture("concepts_illegal") { fixture in
            let job = try await fixture.jobs.create("report", options: JobOptions(queue: "manual"))
            try await ConceptsSamples.completeTooEarly(jobs: fixture.jobs, id: job.id)
            #expect(try await fixture.jobs.job(job.id) == job)

            let error = await #expect(throws: JobError.self) { try await fixture.jobs.complete(job.id) }
            #expect(error?.code == .illegalTransition)
            #expect(error?.currentStatus == .scheduled)
            #expect(error?.requestedStatus == .done)
            #expect(error?.description == "job \(job.id.uuidString.lowercased()) cannot move from scheduled to done")
        }
    }

    @Test func aStaleLeaseCannotCompleteTheJob() async throws {
        try await withDocumentationFixture("concepts_lease") { fixture in
            let jobs = fixture.jobs
            let other = fixture.otherService(workerID: "other-worker")
            let job = try await jobs.create("report", options: JobOptions(queue: "manual", maxAttempts: 2))
            try await ConceptsSamples.completeUnderLease(jobs: jobs, id: job.id) {
                try await jobs.forceReset(job.id, reason: "lease expired", actor: "test")
                _ = try await other.start(job.id)
            }
            let row = try await jobs.job(job.id)
            #expect(row.status == .inProgress)
            #expect(row.lease?.owner == "other-worker")
            #expect(row.resultJSON == nil)
            await other.pool.close()
        }
    }
}

@Suite(.timeLimit(.minutes(3)))
struct RunAsJobGuideTests {
    static let document = Document(id: UUID(), name: "contract.pdf", pages: 4)

    @Test func runAsJobStoresProgressStepAndResult() async throws {
        try await withDocumentationFixture("runasjob") { fixture in
            let text = try await RunAsJobSamples.recognizeDocument(jobs: fixture.jobs, document: Self.document)
            #expect(text == Text(words: 1000))
            let page = try await fixture.jobs.list(JobFilter(reference: JobReference("document", Self.document.id)))
            let job = try #require(page.jobs.first)
            #expect(job.status == .done)
            #expect(job.progress == 100)
            #expect(job.currentStep == "page 4")
            #expect(try job.result(as: Text.self) == text)
            #expect(try job.payload(as: Document.self) == Self.document)
        }
    }

    @Test func optionsPutTheJobInItsQueueWithItsTimeout() async throws {
        try await withDocumentationFixture("runasjob_options") { fixture in
            _ = try await RunAsJobSamples.summariseWithOptions(jobs: fixture.jobs, document: Self.document)
            let job = try #require(try await fixture.jobs.list(JobFilter(types: ["summarise"])).jobs.first)
            #expect(job.queue == "reports")
            #expect(job.timeout == .seconds(120))
            #expect(job.status == .done)
            try await RunAsJobSamples.handleOutcomes(jobs: fixture.jobs, document: Self.document)
        }
    }

    @Test func aTimeoutFailsTheJobAndThrowsTimedOut() async throws {
        try await withDocumentationFixture("runasjob_timeout") { fixture in
            let error = await #expect(throws: JobError.self) {
                try await fixture.jobs.runAsJob("summarise", options: JobOptions(timeout: .milliseconds(200))) { _ -> Int in
                    try await Task.sleep(for: .seconds(120))
                    return 0
                }
            }
            #expect(error?.code == .timedOut)
            let job = try #require(try await fixture.jobs.list(JobFilter(types: ["summarise"])).jobs.first)
            #expect(job.status == .failed)
            #expect(job.errorMessage?.hasSuffix("timed out after 0.2 seconds") == true, "\(job.errorMessage ?? "")")
        }
    }

    @Test func trackedFunctionsRunEachCallAsAJob() async throws {
        try await withDocumentationFixture("runasjob_tracked") { fixture in
            let (text, imported) = try await RunAsJobSamples.trackedFunctions(jobs: fixture.jobs, document: Self.document)
            #expect(text.words == 1000)
            #expect(imported == 3)
            let jobs = try await fixture.jobs.list().jobs
            #expect(Set(jobs.map(\.type)) == ["ocr", "import"])
            #expect(jobs.allSatisfy { $0.status == .done && $0.progress == 100 })
            #expect(jobs.first { $0.type == "ocr" }?.reference == JobReference("document", Self.document.id))
        }
    }

    @Test func cancellingFromAnotherServiceStopsTheRun() async throws {
        try await withDocumentationFixture("runasjob_cancel") { fixture in
            let jobs = fixture.jobs
            let other = fixture.otherService(workerID: "web")
            let sawCancellation = Flag()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await jobs.run() }  // notifications make the cancellation immediate
                let run = Task {
                    try await jobs.runAsJob("ocr", reference: JobReference("document", Self.document.id), payload: Self.document) { _ -> Text in
                        do {
                            try await Task.sleep(for: .seconds(120))
                        } catch {
                            sawCancellation.set()
                            throw error
                        }
                        return Text(words: 0)
                    }
                }
                var running: [Job] = []
                try await waitUntil("the OCR job runs") {
                    running = try await RunAsJobSamples.findRunning(jobs: other, document: Self.document)
                    return running.count == 1
                }
                let id = try #require(running.first?.id)
                try await RunAsJobSamples.cancel(jobs: other, id: id)
                let error = await #expect(throws: JobError.self) { try await run.value }
                #expect(error?.code == .cancelled)
                #expect(sawCancellation.isSet)
                #expect(try await jobs.job(id).status == .cancelled)
                let history = try await jobs.history(of: id)
                #expect(history.map(\.kind) == ["cancel_requested", "cancelled"])
                #expect(history.first?.actor == "web")
                #expect(history.first?.message == "the user closed the tab")
                group.cancelAll()
            }
            await other.pool.close()
        }
    }

    @Test func updatesAndResultFollowAJobRunElsewhere() async throws {
        try await withDocumentationFixture("runasjob_watch") { fixture in
            let jobs = fixture.jobs
            let job = try await jobs.create("ocr", payload: Self.document, options: JobOptions(queue: "manual"))
            let watcher = Task { try await RunAsJobSamples.watch(jobs: jobs, id: job.id) }
            let waiter = Task { try await RunAsJobSamples.waitForResult(jobs: jobs, id: job.id) }
            let started = try await jobs.start(job.id)
            try await jobs.reportProgress(job.id, percent: 50, step: "page 2", lease: started.lease?.token)
            try await jobs.complete(job.id, result: Text(words: 500), lease: started.lease?.token)
            let updates = try await watcher.value
            #expect(updates.last?.status == .done)
            #expect(updates.last?.progress == 100)
            #expect(updates.filter { $0.status.isFinished }.count == 1)
            #expect(try await waiter.value == Text(words: 500))
        }
    }
}

@Suite(.timeLimit(.minutes(3)))
struct QueuesGuideTests {
    @Test func theHandlersRunOnTheSamplesExecutor() async throws {
        try await withDocumentationFixture("queues") { fixture in
            let jobs = fixture.jobs
            let imageID = UUID()
            let one = try await QueuesSamples.enqueueOne(jobs: jobs, imageID: imageID)
            let many = try await QueuesSamples.enqueueMany(jobs: jobs, imageIDs: [UUID(), UUID(), UUID()])
            let invoice = try await jobs.enqueue(SendInvoice.self, .init(invoiceID: 7, address: "ada@example.com"), options: JobOptions(queue: "images"))
            let file = try await jobs.enqueue(ImportFile.self, .init(file: "customers.csv"))
            let ids = [one, invoice, file] + many
            let executor = QueuesSamples.makeExecutor(jobs: jobs, logger: Logger(label: "docs"))
            try await runUntil("every enqueued job is done") {
                try await executor.run()
            } condition: {
                try await jobs.list(JobFilter(statuses: [.done])).jobs.count == ids.count
            }
            let thumbnail = try await jobs.job(one)
            #expect(try thumbnail.result(as: Thumbnail.Output.self)?.path == "thumbnails/\(imageID.uuidString.lowercased())-320.png")
            #expect(thumbnail.maxAttempts == 8)
            #expect(thumbnail.timeout == .seconds(60))
            #expect(try await jobs.job(invoice).maxAttempts == 3)
        }
    }

    @Test func optionsAreStoredAndAUniqueKeyIsTakenOnce() async throws {
        try await withDocumentationFixture("queues_options") { fixture in
            let jobs = fixture.jobs
            let imageID = UUID()
            let before = Date()
            let id = try await QueuesSamples.enqueueWithOptions(jobs: jobs, imageID: imageID)
            let job = try await jobs.job(id)
            #expect(job.queue == "images")
            #expect(job.priority == -10)
            #expect(job.runAt >= before.addingTimeInterval(59))
            #expect(job.reference == JobReference("image", imageID))
            #expect(job.uniqueKey == "thumbnail-1024-\(imageID)")
            try await QueuesSamples.enqueueDuplicate(jobs: jobs, imageID: imageID)
            #expect(try await jobs.list().jobs.map(\.id) == [id])
        }
    }

    @Test func aJobEnqueuedInATransactionExistsOnlyIfItCommits() async throws {
        try await withDocumentationFixture("queues_tx") { fixture in
            let jobs = fixture.jobs
            try await fixture.createDocumentsTable()
            let id = try await QueuesSamples.enqueueInTransaction(jobs: jobs, name: "contract.pdf")
            #expect(try await jobs.job(id).status == .scheduled)
            #expect(try await fixture.documentCount() == 1)

            struct Abort: Error {}
            await #expect(throws: Abort.self) {
                try await jobs.pool.withTransaction { connection in
                    try await connection.query("INSERT INTO documents (id, name) VALUES (\(UUID()), 'lost.pdf')")
                    try await jobs.enqueue(ProcessDocument.self, .init(documentID: UUID()), on: connection)
                    throw Abort()
                }
            }
            #expect(try await jobs.list().jobs.map(\.id) == [id])
            #expect(try await fixture.documentCount() == 1)
        }
    }

    /// Waits in its handler until it is cancelled.
    struct Sleeper: JobHandler {
        struct Payload: Codable, Sendable {}
        static let type = "sleeper"
        let started: Flag
        func run(_ payload: Payload, context: JobContext) async throws -> EmptyPayload {
            self.started.set()
            try await Task.sleep(for: .seconds(120))
            return EmptyPayload()
        }
    }

    @Test func gracefulShutdownGivesARunningJobBackWithoutCountingItsAttempt() async throws {
        try await withDocumentationFixture("queues_shutdown") { fixture in
            let jobs = fixture.jobs
            let started = Flag()
            let id = try await jobs.enqueue(Sleeper.self, .init())
            let executor = JobExecutor(
                service: jobs, handlers: [Sleeper(started: started)], configuration: .init(shutdownGracePeriod: .milliseconds(200)))
            try await runUntil("the sleeper runs") { try await executor.run() } condition: { started.isSet }
            let job = try await jobs.job(id)
            #expect(job.status == .scheduled)
            #expect(job.attempt == 0)
            #expect(try await jobs.history(of: id).map(\.kind) == ["released"])
        }
    }

    @Test func cancellingTheExecutorCountsARunningJobsAttemptAsFailed() async throws {
        try await withDocumentationFixture("queues_cancel") { fixture in
            let jobs = fixture.jobs
            let started = Flag()
            let id = try await jobs.enqueue(Sleeper.self, .init())
            let executor = JobExecutor(service: jobs, handlers: [Sleeper(started: started)])
            let run = Task { try await executor.run() }
            try await waitUntil("the sleeper runs") { started.isSet }
            run.cancel()
            _ = await run.result
            let job = try await jobs.job(id)
            #expect(job.status == .scheduled)  // retried later, per the handler's policy
            #expect(job.attempt == 1)
            #expect(try await jobs.history(of: id).map(\.kind) == ["retry_scheduled"])
        }
    }

    @Test func backoffDoublesFromTheInitialDelay() {
        #expect(QueuesSamples.backoff() == [.seconds(1), .seconds(2), .seconds(4), .seconds(8)])
    }

    @Test func theServiceSampleTakesItsSettings() throws {
        let pool = PostgresConnectionPool(connection: PostgresConfiguration("postgresql://127.0.0.1:1/none"))
        let jobs = QueuesSamples.makeService(pool: pool, logger: Logger(label: "docs"))
        #expect(jobs.configuration.leaseDuration == .seconds(60))
        #expect(jobs.configuration.heartbeatInterval == .seconds(15))
        #expect(!jobs.configuration.workerID.isEmpty)
        let executor = QueuesSamples.makeExecutor(jobs: jobs, logger: Logger(label: "docs"))
        #expect(executor.configuration.queues == ["default", "images"])
        #expect(executor.configuration.concurrency == 16)
        let polling = TuningSamples.pollingExecutor(jobs: jobs, handlers: [Thumbnail()])
        #expect(!polling.configuration.usesNotifications)
        #expect(TuningSamples.sizedPool(databaseURL: "postgresql://127.0.0.1:1/none").configuration.maximumConnections == 24)
    }
}

@Suite(.timeLimit(.minutes(3)))
struct BatchesGuideTests {
    @Test func aFailedItemDoesNotStopTheOthersAndResultsKeepTheirOrder() async throws {
        try await withDocumentationFixture("batches") { fixture in
            let files = ["jan.csv", "broken.csv", "march.csv"]
            let (imported, failures) = try await BatchesSamples.importFolder(jobs: fixture.jobs, files: files)
            #expect(imported == "jan.csv".count + "march.csv".count)
            #expect(failures == ["broken.csv: broken.csv is not valid CSV"])
            let jobs = try await fixture.jobs.list(JobFilter(types: ["import-file"])).jobs
            #expect(jobs.count == 3)
            #expect(jobs.filter { $0.status == .failed }.compactMap { try? $0.payload(as: String.self) } == ["broken.csv"])
            #expect(jobs.filter { $0.status == .done }.count == 2)
        }
    }

    @Test func stopOnFailureAndTheBatchAsOneJob() async throws {
        try await withDocumentationFixture("batches_stop") { fixture in
            let outcomes = try await BatchesSamples.migrateTenants(jobs: fixture.jobs, tenants: ["acme", "globex", "initech"])
            #expect(try outcomes.map { try $0.get() } == [4, 6, 7])
            let imported = try await BatchesSamples.batchAsOneJob(jobs: fixture.jobs, folder: "2025", files: ["a.csv", "bb.csv"])
            #expect(imported == 11)
            let folder = try #require(try await fixture.jobs.list(JobFilter(types: ["import-folder"])).jobs.first)
            #expect(folder.status == .done)
            #expect(try folder.result(as: Int.self) == 11)
        }
    }
}

@Suite(.timeLimit(.minutes(3)))
struct OperationsGuideTests {
    @Test func maintenanceAppliesEachTypesStuckJobPolicy() async throws {
        try await withDocumentationFixture("operations") { fixture in
            let jobs = fixture.jobs
            let thumbnail = try await jobs.create("thumbnail", options: JobOptions(queue: "manual", maxAttempts: 3))
            let invoice = try await jobs.create("send-invoice", options: JobOptions(queue: "manual", maxAttempts: 3))
            for id in [thumbnail.id, invoice.id] { _ = try await jobs.start(id) }
            try await jobs.reportProgress(thumbnail.id, percent: 40)
            // Both workers died: their leases ran out.
            try await fixture.pool.query("UPDATE jobkit.jobs SET lease_expires_at = now() - interval '1 second'")

            // The policies are the service's: a service configured as the guide shows, on the same database.
            let configured = OperationsSamples.makeService(pool: fixture.pool)
            let maintenance = OperationsSamples.makeMaintenance(jobs: configured, logger: Logger(label: "docs"))
            let report = try await OperationsSamples.maintainNow(maintenance: maintenance)
            #expect(report.recovery.rescheduled == 1)
            #expect(report.recovery.failed == 1)
            #expect(report.errors.isEmpty)
            #expect(try await jobs.job(thumbnail.id).status == .scheduled)  // .retry despite its progress
            #expect(try await jobs.job(invoice.id).status == .failed)  // .fail

            let (health, stats) = try await OperationsSamples.check(jobs: jobs, logger: Logger(label: "docs"))
            #expect(health.isHealthy, "\(health.problems)")
            #expect(health.lastMaintenance?.succeeded == true)
            #expect(stats.byStatus["failed"] == 1)
            #expect(stats.byStatus["scheduled"] == 1)
        }
    }

    @Test func forcedChangesAreRecordedWithTheirReasonAndActor() async throws {
        try await withDocumentationFixture("operations_forced") { fixture in
            let jobs = fixture.jobs
            let job = try await jobs.create("thumbnail", options: JobOptions(queue: "manual"))
            _ = try await jobs.start(job.id)
            #expect(try await OperationsSamples.forceFail(jobs: jobs, id: job.id).status == .failed)
            let scheduled = try await OperationsSamples.forceReset(jobs: jobs, id: job.id)
            #expect(scheduled.status == .scheduled)
            #expect(scheduled.maxAttempts == 2)  // another attempt granted
            let history = try await jobs.history(of: job.id)
            #expect(history.map(\.kind) == ["force_failed", "force_reset"])
            #expect(history.allSatisfy { $0.actor == "ops:ada" })
            #expect(try await jobs.job(job.id).errorMessage == "forced: stuck on a dead NFS mount")
        }
    }
}

@Suite(.timeLimit(.minutes(3)))
struct MigratingGuideTests {
    @Test func theLifecycleByHandEndsDoneWithItsResult() async throws {
        try await withDocumentationFixture("migrating") { fixture in
            let id = try await MigratingSamples.byHand(jobs: fixture.jobs)
            let job = try await fixture.jobs.job(id)
            #expect(job.status == .done)
            #expect(job.queue == "manual")
            #expect(try job.result(as: ExportResult.self)?.url == "s3://exports/42.csv")
        }
    }

    @Test func failRetriesWhileAttemptsRemainThenFailsForGood() async throws {
        try await withDocumentationFixture("migrating_fail") { fixture in
            let jobs = fixture.jobs
            let job = try await jobs.create("export", options: JobOptions(queue: "manual", maxAttempts: 2))
            let first = try await jobs.start(job.id)
            let retrying = try await MigratingSamples.failByHand(jobs: jobs, id: job.id, lease: first.lease?.token)
            #expect(retrying.status == .scheduled)
            #expect(retrying.runAt > Date().addingTimeInterval(20))
            let second = try await jobs.start(job.id)
            let failed = try await MigratingSamples.failByHand(jobs: jobs, id: job.id, lease: second.lease?.token)
            #expect(failed.status == .failed)
            #expect(failed.errorMessage == "the export service answered 503")
        }
    }

    @Test func getOrCreateCreatesOnceAndCleanupDeletesOnlyOldJobs() async throws {
        try await withDocumentationFixture("migrating_keys") { fixture in
            let (first, created) = try await MigratingSamples.getOrCreate(jobs: fixture.jobs)
            let (second, createdAgain) = try await MigratingSamples.getOrCreate(jobs: fixture.jobs)
            #expect(created)
            #expect(!createdAgain)
            #expect(first.id == second.id)

            _ = try await fixture.jobs.cancel(first.id)
            #expect(try await MigratingSamples.cleanupOldJobs(jobs: fixture.jobs) == 0)
            try await fixture.pool.query("UPDATE jobkit.jobs SET finished_at = now() - interval '31 days'")
            #expect(try await MigratingSamples.cleanupOldJobs(jobs: fixture.jobs) == 1)
        }
    }
}

/// A flag set once from inside a job and read by the test.
final class Flag: Sendable {
    private let storage = Mutex(false)
    var isSet: Bool { self.storage.withLock { $0 } }
    func set() { self.storage.withLock { $0 = true } }
}
