import Foundation
import JobKit
import LibPQ
import PostgresTestSupport
import Testing

/// Operator tools against a real PostgreSQL: validation of rows that disagree with their
/// status (and its fixes), and forced failures and resets.
@Suite(.timeLimit(.minutes(3)))
struct OperationsTests {
    // MARK: - Validation

    /// A row whose fields disagree with its status, as an old database may hold.
    struct Corruption: Sendable, CustomTestStringConvertible {
        var code: String
        var status: JobStatus
        var isFixable: Bool
        /// The `SET` items that corrupt the row.
        var corrupt: String
        /// Whether the fixed row is as it should be.
        var isRepaired: @Sendable (Job) -> Bool

        var testDescription: String { self.code }
    }

    static let corruptions: [Corruption] = [
        Corruption(code: "finished_without_time", status: .done, isFixable: true, corrupt: "finished_at = NULL") { job in
            job.finishedAt.map { $0 <= job.updatedAt } ?? false
        },
        Corruption(code: "progress_out_of_range", status: .failed, isFixable: true, corrupt: "progress = 140") { $0.progress == 100 },
        Corruption(
            code: "lease_on_idle_job", status: .done, isFixable: true,
            corrupt: "lease_token = gen_random_uuid(), lease_expires_at = now() + interval '1 minute'"
        ) { $0.lease == nil },
        Corruption(code: "stale_cancel_request", status: .failed, isFixable: true, corrupt: "cancel_requested_at = now()") {
            $0.cancelRequestedAt == nil
        },
        Corruption(
            code: "running_without_lease", status: .inProgress, isFixable: false, corrupt: "lease_token = NULL, lease_expires_at = NULL"
        ) { _ in false },
    ]

    static var fixable: [Corruption] { corruptions.filter(\.isFixable) }

    /// A job in the corruption's status, corrupted by SQL (the constraints that forbid it dropped).
    static func corruptedJob(_ fixture: JobKitFixture, _ corruption: Corruption) async throws -> Job {
        try await fixture.dropStatusConstraints()
        let job = try await fixture.job(in: corruption.status)
        try await fixture.execute("UPDATE jobkit.jobs SET \(unescaped: corruption.corrupt) WHERE id = \(job.id)")
        return try await fixture.jobs.job(job.id)
    }

    @Test(arguments: corruptions)
    func validateReportsAFieldThatDisagreesWithItsStatus(_ corruption: Corruption) async throws {
        try await withJobKitFixture("ops") { fixture in
            let job = try await Self.corruptedJob(fixture, corruption)

            let issue = try #require(try await fixture.jobs.validate(job.id).onlyElement)

            #expect(issue.jobID == job.id)
            #expect(issue.status == corruption.status)
            #expect(issue.code == corruption.code)
            #expect(issue.isFixable == corruption.isFixable)
            #expect(try await fixture.jobs.job(job.id) == job)
        }
    }

    @Test(arguments: fixable)
    func validateWithFixRepairsTheRowAndRecordsIt(_ corruption: Corruption) async throws {
        try await withJobKitFixture("ops") { fixture in
            let job = try await Self.corruptedJob(fixture, corruption)

            let issues = try await fixture.jobs.validate(job.id, fix: true)

            #expect(issues.map(\.code) == [corruption.code])
            let fixed = try await fixture.jobs.job(job.id)
            #expect(corruption.isRepaired(fixed), "\(fixed)")
            #expect(fixed.status == corruption.status)
            #expect(try await fixture.jobs.validate(job.id).isEmpty)
            let event = try #require(try await fixture.events(of: job.id, kind: "validated").onlyElement)
            #expect(event.message == "fixed: \(corruption.code)")
            #expect(event.actor == "validate")
            #expect(event.fromStatus == corruption.status && event.toStatus == corruption.status)
        }
    }

    @Test func aLeaseOnAnIdleJobIsClearedEntirely() async throws {
        try await withJobKitFixture("ops") { fixture in
            try await fixture.dropStatusConstraints()
            let job = try await fixture.job(in: .done)
            try await fixture.execute("UPDATE jobkit.jobs SET lease_token = gen_random_uuid() WHERE id = \(job.id)")

            #expect(try await fixture.jobs.validate(job.id, fix: true).map(\.code) == ["lease_on_idle_job"])
            #expect(try await fixture.count("jobs", where: "id = \(job.id) AND lease_token IS NULL AND lease_expires_at IS NULL") == 1)
        }
    }

    @Test func validateWithFixLeavesWhatItCannotFixAlone() async throws {
        try await withJobKitFixture("ops") { fixture in
            let corruption = try #require(Self.corruptions.first { !$0.isFixable })
            let job = try await Self.corruptedJob(fixture, corruption)

            let issues = try await fixture.jobs.validate(job.id, fix: true)

            #expect(issues.map(\.code) == ["running_without_lease"])
            #expect(issues.map(\.isFixable) == [false])
            #expect(try await fixture.jobs.job(job.id) == job)
            #expect(try await fixture.events(of: job.id, kind: "validated").isEmpty)
            #expect(try await fixture.jobs.validate(job.id).map(\.code) == ["running_without_lease"])
        }
    }

    @Test(arguments: JobStatus.allCases)
    func validateFindsNothingWrongWithAJobMadeThroughTheAPI(_ status: JobStatus) async throws {
        try await withJobKitFixture("ops") { fixture in
            let job = try await fixture.job(in: status)
            #expect(try await fixture.jobs.validate(job.id, fix: true).isEmpty)
            #expect(try await fixture.jobs.job(job.id) == job)
        }
    }

    @Test func validateOfAnUnknownJobThrowsNotFound() async throws {
        try await withJobKitFixture("ops") { fixture in
            let id = UUID()
            let error = try await jobError { _ = try await fixture.jobs.validate(id) }
            #expect(error.code == .notFound)
            #expect(error.jobID == id)
        }
    }

    @Test func validateAllReportsEveryJobAndFixesOnlyWhenAsked() async throws {
        try await withJobKitFixture("ops") { fixture in
            try await fixture.dropStatusConstraints()
            let done = try await fixture.job(in: .done)
            let failed = try await fixture.job(in: .failed)
            _ = try await fixture.job(in: .scheduled)
            try await fixture.execute("UPDATE jobkit.jobs SET finished_at = NULL WHERE id = \(done.id)")
            try await fixture.execute("UPDATE jobkit.jobs SET progress = 140 WHERE id = \(failed.id)")

            let reported = try await fixture.jobs.validateAll()
            #expect(Set(reported.issues.map(\.jobID)) == [done.id, failed.id])
            #expect(reported.fixed == 0)
            #expect(try await fixture.jobs.validateAll().issues.count == 2)

            let fixed = try await fixture.jobs.validateAll(fix: true)
            #expect(fixed.fixed == 2)
            #expect(try await fixture.jobs.validateAll().issues.isEmpty)
        }
    }

    @Test func maintenanceFixesWhatValidationFindsAsMaintenance() async throws {
        try await withJobKitFixture("ops") { fixture in
            let job = try await Self.corruptedJob(fixture, Self.corruptions[0])

            let report = try await MaintenanceService(service: fixture.jobs).runOnce()

            #expect(report.validationIssues.map(\.code) == ["finished_without_time"])
            #expect(report.fixed == 1)
            #expect(try await fixture.jobs.job(job.id).finishedAt != nil)
            #expect(try await fixture.events(of: job.id, kind: "validated").map(\.actor) == ["maintenance"])
        }
    }

    @Test func maintenanceOnlyReportsWhenFixingIsOff() async throws {
        try await withJobKitFixture("ops") { fixture in
            let job = try await Self.corruptedJob(fixture, Self.corruptions[0])

            let report = try await MaintenanceService(service: fixture.jobs, configuration: .init(fixesValidationIssues: false)).runOnce()

            #expect(report.validationIssues.map(\.code) == ["finished_without_time"])
            #expect(report.fixed == 0)
            #expect(try await fixture.jobs.job(job.id) == job)
        }
    }

    // MARK: - Forced changes

    @Test func forceFailFailsARunningJobWithTheReasonAndActorInItsHistory() async throws {
        try await withJobKitFixture("ops") { fixture in
            let job = try await fixture.runningJob(progress: 30)

            let forced = try await fixture.jobs.forceFail(job.id, reason: "stuck on a bad page", actor: "ops@example.com")

            #expect(forced.status == .failed)
            #expect(forced.errorMessage == "forced: stuck on a bad page")
            #expect(forced.lease == nil)
            #expect(forced.finishedAt != nil)
            #expect(try await fixture.jobs.job(job.id) == forced)
            let event = try #require(try await fixture.events(of: job.id, kind: "force_failed").onlyElement)
            #expect(event.message == "stuck on a bad page")
            #expect(event.actor == "ops@example.com")
            #expect(event.fromStatus == .inProgress && event.toStatus == .failed)
        }
    }

    @Test func aRunnerCannotCompleteAJobAfterItWasForceFailed() async throws {
        try await withJobKitFixture("ops") { fixture in
            let job = try await fixture.runningJob()
            let token = try #require(job.lease?.token)
            let forced = try await fixture.jobs.forceFail(job.id, reason: "stuck", actor: "ops")

            let error = try await jobError { try await fixture.jobs.complete(job.id, result: ["late": true], lease: token) }

            #expect(error.code == .illegalTransition || error.code == .leaseLost)
            #expect(try await fixture.jobs.job(job.id) == forced)
        }
    }

    @Test func forceResetSendsAFailedJobBackGrantingAnotherAttempt() async throws {
        try await withJobKitFixture("ops") { fixture in
            let job = try await fixture.job(in: .failed)
            try #require(job.attempt == 1 && job.maxAttempts == 1)

            let reset = try await fixture.jobs.forceReset(job.id, reason: "the bug is fixed", actor: "ops")

            #expect(reset.status == .scheduled)
            #expect(reset.maxAttempts == 2)
            #expect(reset.attempt == 1)
            #expect(reset.finishedAt == nil)
            let event = try #require(try await fixture.events(of: job.id, kind: "force_reset").onlyElement)
            #expect(event.message == "the bug is fixed")
            #expect(event.actor == "ops")
            #expect(event.fromStatus == .failed && event.toStatus == .scheduled)
            // It can run again.
            #expect(try await fixture.jobs.start(job.id).attempt == 2)
        }
    }

    @Test func forceResetSendsAStuckRunningJobBackAndItsRunnerIsRefused() async throws {
        try await withJobKitFixture("ops") { fixture in
            let job = try await fixture.runningJob(maxAttempts: 3, progress: 60)
            let token = try #require(job.lease?.token)
            try await fixture.expireLease(job.id)

            let reset = try await fixture.jobs.forceReset(job.id, reason: "worker host died", actor: "ops")

            #expect(reset.status == .scheduled)
            #expect(reset.maxAttempts == 3)
            #expect(reset.progress == 0)
            #expect(reset.lease == nil)
            let error = try await jobError { try await fixture.jobs.complete(job.id, lease: token) }
            #expect(error.code == .illegalTransition || error.code == .leaseLost)
            #expect(try await fixture.jobs.job(job.id) == reset)
        }
    }

    enum ForcedChange: String, Sendable, CaseIterable {
        case forceFail, forceReset

        func apply(_ jobs: JobService, _ id: UUID, reason: String) async throws {
            switch self {
            case .forceFail: try await jobs.forceFail(id, reason: reason, actor: "ops")
            case .forceReset: try await jobs.forceReset(id, reason: reason, actor: "ops")
            }
        }
    }

    @Test(arguments: ForcedChange.allCases)
    func aForcedChangeWithoutAReasonIsRefusedAndChangesNothing(_ change: ForcedChange) async throws {
        try await withJobKitFixture("ops") { fixture in
            let job = try await fixture.runningJob()
            let history = try await fixture.jobs.history(of: job.id)

            let error = try await jobError { try await change.apply(fixture.jobs, job.id, reason: "") }

            #expect(error.code == .invalidArgument)
            #expect(try await fixture.jobs.job(job.id) == job)
            #expect(try await fixture.jobs.history(of: job.id) == history)
        }
    }

    @Test func forceFailOfADoneJobIsAnIllegalTransitionNamingDone() async throws {
        try await withJobKitFixture("ops") { fixture in
            let job = try await fixture.job(in: .done)

            let error = try await jobError { try await fixture.jobs.forceFail(job.id, reason: "too late", actor: "ops") }

            #expect(error.code == .illegalTransition)
            #expect(error.jobID == job.id)
            #expect(error.currentStatus == .done)
            #expect(error.requestedStatus == .failed)
            #expect(error.description.contains("from done to failed"))
            #expect(try await fixture.jobs.job(job.id) == job)
        }
    }

    @Test(arguments: [JobStatus.scheduled, .done, .cancelled])
    func forceResetOfAJobThatIsNeitherRunningNorFailedIsAnIllegalTransition(_ status: JobStatus) async throws {
        try await withJobKitFixture("ops") { fixture in
            let job = try await fixture.job(in: status)

            let error = try await jobError { try await fixture.jobs.forceReset(job.id, reason: "again", actor: "ops") }

            #expect(error.code == .illegalTransition)
            #expect(error.currentStatus == status)
            #expect(try await fixture.jobs.job(job.id) == job)
        }
    }

    @Test(arguments: ForcedChange.allCases)
    func aForcedChangeOfAnUnknownJobThrowsNotFound(_ change: ForcedChange) async throws {
        try await withJobKitFixture("ops") { fixture in
            let id = UUID()
            let error = try await jobError { try await change.apply(fixture.jobs, id, reason: "gone") }
            #expect(error.code == .notFound)
            #expect(error.jobID == id)
        }
    }
}
