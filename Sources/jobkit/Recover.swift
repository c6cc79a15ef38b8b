import ArgumentParser
import Foundation
import JobKit

struct Recover: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Recover stuck jobs now: expired leases and jobs past their timeout.",
        discussion: """
            A running job whose lease expired goes back to scheduled if it reported no progress and \
            has attempts left, else to failed; one whose cancellation was requested ends cancelled. \
            Jobs past their timeout fail.
            """)

    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        let report = try await self.connection.withService { try await $0.recoverStuckJobs() }
        print("""
            Recovered \(report.total) \(report.total == 1 ? "job" : "jobs"): \(report.rescheduled) rescheduled, \
            \(report.failed) failed, \(report.cancelled) cancelled, \(report.timedOut) timed out.
            """)
    }
}
