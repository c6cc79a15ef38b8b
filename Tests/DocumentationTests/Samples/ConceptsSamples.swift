// The code of Documentation/Concepts.md (see GettingStartedSamples.swift for how it is checked).
import Foundation
import JobKit

enum ConceptsSamples {
    // MARK: The transition table

    static func transitionTable() -> [Bool] {
        let canRetry = JobTransitions.allows(.retry, from: .failed)           // true
        let canComplete = JobTransitions.allows(.complete, from: .scheduled)  // false
        let canReopen = JobStatus.done.canTransition(to: .scheduled)          // false: done is terminal
        return [canRetry, canComplete, canReopen]
    }

    // MARK: An illegal move

    static func completeTooEarly(jobs: JobService, id: UUID) async throws {
        do {
            try await jobs.complete(id, result: EmptyPayload())
        } catch let error as JobError where error.code == .illegalTransition {
            // The row is unchanged. error.jobID, error.currentStatus (.scheduled) and
            // error.requestedStatus (.done) say why: "job 0193… cannot move from scheduled to done".
        }
    }

    // MARK: Exactly-once completion

    static func completeUnderLease(jobs: JobService, id: UUID, work: () async throws -> Void) async throws {
        let started = try await jobs.start(id)
        let lease = started.lease?.token
        try await work()  // meanwhile the lease runs out; the job is rescued and another worker starts it
        do {
            try await jobs.complete(id, result: EmptyPayload(), lease: lease)
        } catch let error as JobError where error.code == .leaseLost {
            // Another worker owns the job now: nothing was written.
        }
    }
}
