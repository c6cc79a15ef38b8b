import Foundation
import JobKit
import LibPQ
import PostgresTestSupport
import Testing

/// The maintenance loop against a real PostgreSQL, through `runOnce()`: stuck-job recovery
/// under each policy, timeouts, leader election, retention in bounded batches, run reports.
@Suite(.timeLimit(.minutes(3)))
struct MaintenanceTests {
    static func maintenance(
        _ fixture: JobKitFixture,
        policies: [String: StuckJobPolicy] = [:],
        batchSize: Int = 1000
    ) -> MaintenanceService {
        var configuration = fixture.jobs.configuration
        configuration.stuckJobPolicies = policies
        return MaintenanceService(service: JobService(pool: fixture.jobs.pool, configuration: configuration), configuration: .init(batchSize: batchSize))
    }

    // MARK: - Stuck jobs (expired leases)

    @Test func stuckJobWithoutProgressGoesBackToScheduledKeepingItsAttempt() async throws {
        try await withJobKitFixture("maint") { fixture in
            let job = try await fixture.runningJob(maxAttempts: 3)
            try await fixture.expireLease(job.id)

            let report = try await Self.maintenance(fixture).runOnce()

            #expect(report.recovery.moved == ["rescheduled": 1])
            let rescued = try await fixture.jobs.job(job.id)
            #expect(rescued.status == .scheduled)
            #expect(rescued.attempt == 1)
            #expect(rescued.lease == nil)
            #expect(rescued.finishedAt == nil)
            let event = try #require(try await fixture.events(of: job.id, kind: "rescued").onlyElement)
            #expect(event.fromStatus == .inProgress && event.toStatus == .scheduled)
            #expect(event.attempt == 1)
            #expect(event.message == "abandoned at 0% by worker worker-main: its lease expired")
        }
    }

    @Test func stuckJobWithProgressFailsWithAMessageNamingItsProgressAndWorker() async throws {
        try await withJobKitFixture("maint") { fixture in
            let job = try await fixture.runningJob(maxAttempts: 3, progress: 40)
            try await fixture.expireLease(job.id)

            let report = try await Self.maintenance(fixture).runOnce()

            #expect(report.recovery.moved == ["failed": 1])
            let failed = try await fixture.jobs.job(job.id)
            #expect(failed.status == .failed)
            #expect(failed.errorMessage == "abandoned at 40% by worker worker-main: its lease expired")
            #expect(failed.progress == 40)
            #expect(failed.finishedAt != nil)
            #expect(failed.lease == nil)
            let event = try #require(try await fixture.events(of: job.id, kind: "rescued").onlyElement)
            #expect(event.toStatus == .failed)
        }
    }

    @Test func stuckJobWithoutAttemptsLeftFails() async throws {
        try await withJobKitFixture("maint") { fixture in
            let job = try await fixture.runningJob(maxAttempts: 1)
            try await fixture.expireLease(job.id)

            let report = try await Self.maintenance(fixture).runOnce()

            #expect(report.recovery.moved == ["failed": 1])
            let failed = try await fixture.jobs.job(job.id)
            #expect(failed.status == .failed)
            #expect(failed.attempt == 1)
            #expect(failed.errorMessage == "abandoned at 0% by worker worker-main: its lease expired")
        }
    }

    @Test func retryPolicyReschedulesAStuckJobDespiteItsProgress() async throws {
        try await withJobKitFixture("maint") { fixture in
            let job = try await fixture.runningJob(type: "resize", maxAttempts: 3, progress: 40)
            try await fixture.expireLease(job.id)

            let report = try await Self.maintenance(fixture, policies: ["resize": .retry]).runOnce()

            #expect(report.recovery.moved == ["rescheduled": 1])
            let rescued = try await fixture.jobs.job(job.id)
            #expect(rescued.status == .scheduled)
            #expect(rescued.progress == 0)
            #expect(rescued.attempt == 1)
        }
    }

    @Test func executorsRescueAppliesTheServicesPoliciesToo() async throws {
        try await withJobKitFixture("maint") { fixture in
            // Without progress and with attempts left: `.byProgress` would reschedule it.
            let job = try await fixture.runningJob(type: "invoice", maxAttempts: 3, progress: 0)
            try await fixture.expireLease(job.id)
            var configuration = fixture.jobs.configuration
            configuration.stuckJobPolicies = ["invoice": .fail]
            let jobs = JobService(pool: fixture.jobs.pool, configuration: configuration)
            let executor = JobExecutor(service: jobs, handlers: [], configuration: .init(
                queues: ["elsewhere"], pollInterval: .milliseconds(100), rescueInterval: .milliseconds(100), usesNotifications: false))
            let ended = try await QueueTests.run(executor) { try await fixture.jobs.job(job.id).status.isFinished }
            #expect(ended)
            let rescued = try await fixture.jobs.job(job.id)
            #expect(rescued.status == .failed)
            #expect(rescued.errorMessage?.contains("its lease expired") == true, "\(rescued.errorMessage ?? "")")
        }
    }

    @Test func retryPolicyStillFailsAStuckJobWithoutAttemptsLeft() async throws {
        try await withJobKitFixture("maint") { fixture in
            let job = try await fixture.runningJob(type: "resize", maxAttempts: 1, progress: 40)
            try await fixture.expireLease(job.id)

            let report = try await Self.maintenance(fixture, policies: ["resize": .retry]).runOnce()

            #expect(report.recovery.moved == ["failed": 1])
            #expect(try await fixture.jobs.job(job.id).status == .failed)
        }
    }

    @Test func failPolicyFailsAStuckJobWithoutProgress() async throws {
        try await withJobKitFixture("maint") { fixture in
            let job = try await fixture.runningJob(type: "charge", maxAttempts: 3)
            try await fixture.expireLease(job.id)

            let report = try await Self.maintenance(fixture, policies: ["charge": .fail]).runOnce()

            #expect(report.recovery.moved == ["failed": 1])
            let failed = try await fixture.jobs.job(job.id)
            #expect(failed.status == .failed)
            #expect(failed.errorMessage == "abandoned at 0% by worker worker-main: its lease expired")
        }
    }

    @Test func policiesApplyOnlyToTheirOwnJobType() async throws {
        try await withJobKitFixture("maint") { fixture in
            let charge = try await fixture.runningJob(type: "charge", maxAttempts: 3)
            let other = try await fixture.runningJob(type: "thumbnail", maxAttempts: 3)
            try await fixture.expireLease(charge.id)
            try await fixture.expireLease(other.id)

            let report = try await Self.maintenance(fixture, policies: ["charge": .fail]).runOnce()

            #expect(report.recovery.moved == ["rescheduled": 1, "failed": 1])
            #expect(try await fixture.jobs.job(charge.id).status == .failed)
            #expect(try await fixture.jobs.job(other.id).status == .scheduled)
        }
    }

    @Test func stuckJobWhoseCancellationWasRequestedEndsCancelled() async throws {
        try await withJobKitFixture("maint") { fixture in
            let job = try await fixture.runningJob(maxAttempts: 3)
            let requested = try await fixture.jobs.cancel(job.id, reason: "not needed")
            try #require(requested.status == .inProgress && requested.cancelRequestedAt != nil)
            try await fixture.expireLease(job.id)

            let report = try await Self.maintenance(fixture).runOnce()

            #expect(report.recovery.moved == ["cancelled": 1])
            let cancelled = try await fixture.jobs.job(job.id)
            #expect(cancelled.status == .cancelled)
            #expect(cancelled.finishedAt != nil)
            #expect(cancelled.lease == nil)
        }
    }

    @Test(arguments: StuckJobPolicy.allCases)
    func jobUnderALiveLeaseIsNeverTouchedHoweverOld(policy: StuckJobPolicy) async throws {
        try await withJobKitFixture("maint") { fixture in
            let job = try await fixture.runningJob(type: "report", maxAttempts: 1, progress: 40)
            try await fixture.jobs.cancel(job.id, reason: "would end it if it were stuck")
            try await fixture.execute("""
                UPDATE jobkit.jobs SET created_at = now() - interval '3 days', run_at = now() - interval '3 days',
                    started_at = now() - interval '2 days', updated_at = now() - interval '2 days'
                WHERE id = \(job.id)
                """)
            let before = try await fixture.jobs.job(job.id)
            let now = try await fixture.databaseNow()
            try #require(try #require(before.lease).expiresAt > now)

            let report = try await Self.maintenance(fixture, policies: ["report": policy]).runOnce()

            #expect(report.recovery.total == 0)
            #expect(try await fixture.jobs.job(job.id) == before)
        }
    }

    @Test func recoverStuckJobsAppliesPoliciesAndTimeoutsOnDemand() async throws {
        try await withJobKitFixture("maint") { fixture in
            let stuck = try await fixture.runningJob(type: "charge", maxAttempts: 3)
            try await fixture.expireLease(stuck.id)
            let late = try await fixture.runningJob(timeout: .seconds(5))
            try await fixture.execute("UPDATE jobkit.jobs SET started_at = now() - interval '1 minute' WHERE id = \(late.id)")

            let report = try await fixture.jobs.recoverStuckJobs(policies: ["charge": .fail])

            #expect(report.moved == ["failed": 1, "timedOut": 1])
            #expect(try await fixture.jobs.job(stuck.id).status == .failed)
            #expect(try await fixture.jobs.job(late.id).status == .failed)
        }
    }

    @Test func recoveryMovesAtMostBatchSizeJobsPerRun() async throws {
        try await withJobKitFixture("maint") { fixture in
            var ids: [UUID] = []
            for _ in 0..<5 {
                let job = try await fixture.runningJob()
                try await fixture.expireLease(job.id)
                ids.append(job.id)
            }
            let maintenance = Self.maintenance(fixture, batchSize: 2)

            #expect(try await maintenance.runOnce().recovery.rescheduled == 2)
            #expect(try await maintenance.runOnce().recovery.rescheduled == 2)
            #expect(try await maintenance.runOnce().recovery.rescheduled == 1)
            #expect(try await fixture.count("jobs", where: "status = 'scheduled'") == 5)
        }
    }

    @Test func anExecutorRestartingUnderTheSameIdentityTakesBackItsOrphansAtOnce() async throws {
        try await withJobKitFixture("maint") { fixture in
            let created = try await fixture.jobs.create("thumbnail", options: .init(maxAttempts: 3))
            let orphan = try await fixture.jobs.start(created.id, owner: "exec-restarted")
            let now = try await fixture.databaseNow()
            try #require(try #require(orphan.lease).expiresAt > now)
            // Serves another queue, so it takes the orphan back without running it again.
            let executor = JobExecutor(
                service: fixture.jobs, handlers: [], configuration: .init(queues: ["elsewhere"], workerID: "exec-restarted"))

            try await whileRunning(executor) {
                try await pollUntil("the orphan to be taken back") { try await fixture.jobs.job(orphan.id).status == .scheduled }
            }

            let event = try #require(try await fixture.events(of: orphan.id, kind: "rescued").onlyElement)
            #expect(event.message == "abandoned at 0% by worker exec-restarted: the worker restarted")
            #expect(try await fixture.jobs.job(orphan.id).attempt == 1)
        }
    }

    // MARK: - Timeouts

    @Test func runningJobPastItsTimeoutIsFailedByMaintenance() async throws {
        try await withJobKitFixture("maint") { fixture in
            let job = try await fixture.runningJob(timeout: .seconds(5))
            try await fixture.execute("UPDATE jobkit.jobs SET started_at = now() - interval '1 minute' WHERE id = \(job.id)")

            let report = try await Self.maintenance(fixture).runOnce()

            #expect(report.recovery.moved == ["timedOut": 1])
            let failed = try await fixture.jobs.job(job.id)
            #expect(failed.status == .failed)
            #expect(failed.errorMessage == "timed out after 5 s; failed by maintenance")
            #expect(failed.lease == nil)
            #expect(failed.finishedAt != nil)
            let event = try #require(try await fixture.events(of: job.id, kind: "timed_out").onlyElement)
            #expect(event.fromStatus == .inProgress && event.toStatus == .failed)
        }
    }

    @Test func aTimedOutJobsRunnerCannotCompleteItLate() async throws {
        try await withJobKitFixture("maint") { fixture in
            let job = try await fixture.runningJob(timeout: .seconds(5))
            let token = try #require(job.lease?.token)
            try await fixture.execute("UPDATE jobkit.jobs SET started_at = now() - interval '1 minute' WHERE id = \(job.id)")
            try await Self.maintenance(fixture).runOnce()
            let failed = try await fixture.jobs.job(job.id)
            try #require(failed.status == .failed)

            let error = try await jobError { try await fixture.jobs.complete(job.id, result: ["late": true], lease: token) }

            #expect(error.code == .illegalTransition || error.code == .leaseLost)
            #expect(error.jobID == job.id)
            #expect(try await fixture.jobs.job(job.id) == failed)
        }
    }

    @Test func runningJobWithinItsTimeoutKeepsRunning() async throws {
        try await withJobKitFixture("maint") { fixture in
            let job = try await fixture.runningJob(timeout: .seconds(3600))

            let report = try await Self.maintenance(fixture).runOnce()

            #expect(report.recovery.total == 0)
            #expect(try await fixture.jobs.job(job.id) == job)
        }
    }

    // MARK: - Leader election

    static func competitor(_ fixture: JobKitFixture, _ workerID: String) -> BackgroundMaintenance {
        BackgroundMaintenance(MaintenanceService(
            service: fixture.makeService(workerID: workerID),
            configuration: .init(interval: .milliseconds(200), minimumInterval: .milliseconds(100))))
    }

    @Test func onlyOneOfTwoMaintenanceServicesLeads() async throws {
        try await withJobKitFixture("maint") { fixture in
            let a = Self.competitor(fixture, "maint-a")
            let b = Self.competitor(fixture, "maint-b")
            do {
                try await pollUntil("a leader") { a.isLeader || b.isLeader }
                let (leader, follower) = a.isLeader ? (a, b) : (b, a)
                // Three runs take at least 400 ms, while the follower tries for the lock every 200 ms.
                try await pollUntil("three maintenance runs") { try await fixture.count("maintenance_runs") >= 3 }

                #expect(leader.isLeader)
                #expect(!follower.isLeader)
                let leaders = try await fixture.pool.query("SELECT DISTINCT leader FROM jobkit.maintenance_runs")
                    .map { try $0.decode(String.self, at: 0) }
                #expect(leaders == [leader.workerID])
            } catch {
                await a.stop()
                await b.stop()
                throw error
            }
            await a.stop()
            await b.stop()
        }
    }

    @Test func whenTheLeaderStopsTheOtherTakesOver() async throws {
        try await withJobKitFixture("maint") { fixture in
            let a = Self.competitor(fixture, "maint-a")
            let b = Self.competitor(fixture, "maint-b")
            do {
                try await pollUntil("a leader") { a.isLeader || b.isLeader }
                let (leader, follower) = a.isLeader ? (a, b) : (b, a)
                try #require(!follower.isLeader)

                await leader.stop()
                #expect(!leader.isLeader)

                try await pollUntil("the follower to lead", timeout: .seconds(60)) { follower.isLeader }
                try await pollUntil("a run by the new leader") {
                    try await fixture.count("maintenance_runs", where: "leader = \(follower.workerID)") >= 1
                }
            } catch {
                await a.stop()
                await b.stop()
                throw error
            }
            await a.stop()
            await b.stop()
        }
    }

    // MARK: - Retention

    @Test func retentionDeletesOnlyFinishedJobsPastTheirStatusRetentionInBoundedBatches() async throws {
        try await withJobKitFixture("maint") { fixture in
            try await fixture.recordDeleteBatches()
            let oldDone = try await fixture.insertFinishedJobs(2500, status: .done, type: "old-done", finishedAgo: .seconds(10 * 86_400))
            let oldCancelled = try await fixture.insertFinishedJobs(5, status: .cancelled, type: "old-cancelled", finishedAgo: .seconds(10 * 86_400))
            let oldFailed = try await fixture.insertFinishedJobs(4, status: .failed, type: "old-failed", finishedAgo: .seconds(10 * 86_400))
            var kept = oldFailed
            for _ in 0..<3 { kept.append(try await fixture.job(in: .done).id) }
            for _ in 0..<2 { kept.append(try await fixture.job(in: .inProgress).id) }
            try await fixture.execute("""
                UPDATE jobkit.jobs SET created_at = now() - interval '40 days', run_at = now() - interval '40 days'
                WHERE status = 'in_progress'
                """)
            let day: Int64 = 86_400
            let maintenance = MaintenanceService(service: fixture.jobs, configuration: .init(
                retention: [.done: .seconds(7 * day), .cancelled: .seconds(7 * day), .failed: .seconds(30 * day)], batchSize: 1000))

            let report = try await maintenance.runOnce()

            #expect(report.errors.isEmpty)
            #expect(report.deleted == ["cancelled": 5, "done": 2500, "failed": 0])
            #expect(try await fixture.count("jobs", where: "id = ANY(\(oldDone + oldCancelled))") == 0)
            #expect(try await fixture.count("job_events", where: "job_id = ANY(\(oldDone + oldCancelled))") == 0)
            #expect(try await fixture.count("jobs") == kept.count)
            #expect(try await fixture.count("jobs", where: "id = ANY(\(kept))") == kept.count)
            #expect(try await fixture.count("job_events", where: "job_id = ANY(\(oldFailed))") == oldFailed.count)
            // One DELETE per batch, none above batchSize: cancelled, then done, then failed.
            #expect(try await fixture.deleteBatches() == [5, 1000, 1000, 500, 0])
        }
    }

    @Test func cleanupDeletesInBatchesOfTheGivenSize() async throws {
        try await withJobKitFixture("maint") { fixture in
            try await fixture.recordDeleteBatches()
            let old = try await fixture.insertFinishedJobs(35, status: .done, type: "old", finishedAgo: .seconds(2 * 86_400))
            let young = try await fixture.job(in: .done)

            let deleted = try await fixture.jobs.cleanup(olderThan: .seconds(86_400), batchSize: 10)

            #expect(deleted == 35)
            #expect(try await fixture.deleteBatches() == [10, 10, 10, 5])
            #expect(try await fixture.count("jobs", where: "id = ANY(\(old))") == 0)
            #expect(try await fixture.count("jobs") == 1)
            #expect(try await fixture.jobs.job(young.id) == young)
        }
    }

    @Test func cleanupRejectsBadArgumentsBeforeDeletingAnything() async throws {
        try await withJobKitFixture("maint") { fixture in
            _ = try await fixture.insertFinishedJobs(3, status: .done, type: "old", finishedAgo: .seconds(2 * 86_400))

            let zeroBatch = try await jobError { try await fixture.jobs.cleanup(olderThan: .seconds(60), batchSize: 0) }
            let running = try await jobError { try await fixture.jobs.cleanup(olderThan: .seconds(60), statuses: [.done, .inProgress]) }

            #expect(zeroBatch.code == .invalidArgument)
            #expect(running.code == .invalidArgument)
            #expect(try await fixture.count("jobs") == 3)
        }
    }

    // MARK: - Run reports

    @Test func eachRunIsRecordedWithItsLeaderAndOutcome() async throws {
        try await withJobKitFixture("maint") { fixture in
            let job = try await fixture.runningJob()
            try await fixture.expireLease(job.id)

            let report = try await Self.maintenance(fixture).runOnce()

            let row = try #require(Array(try await fixture.pool.query("""
                SELECT leader, succeeded, (report -> 'recovery' ->> 'rescheduled')::int FROM jobkit.maintenance_runs
                """)).onlyElement)
            let (leader, succeeded, rescheduled) = try row.decode((String, Bool, Int).self)
            #expect(leader == "worker-main")
            #expect(succeeded)
            #expect(rescheduled == 1)
            #expect(report.errors.isEmpty)
            #expect(report.durationMilliseconds >= 0)
        }
    }

    @Test func aFailingStepIsReportedWhileTheOtherStepsStillRun() async throws {
        try await withJobKitFixture("maint") { fixture in
            let old = try await fixture.insertFinishedJobs(3, status: .done, type: "old", finishedAgo: .seconds(30 * 86_400))
            // Without a history table, recovery and timeouts cannot write their events.
            try await fixture.execute("ALTER TABLE jobkit.job_events RENAME TO job_events_elsewhere")

            let report = try await Self.maintenance(fixture).runOnce()

            #expect(report.errors.count == 2)
            #expect(report.errors.contains { $0.hasPrefix("recover stuck jobs:") })
            #expect(report.errors.contains { $0.hasPrefix("fail timed-out jobs:") })
            #expect(report.deleted["done"] == old.count)
            let succeeded = try #require(Array(try await fixture.pool.query("SELECT succeeded FROM jobkit.maintenance_runs")).onlyElement)
            #expect(try succeeded.decode(Bool.self, at: 0) == false)
        }
    }
}
