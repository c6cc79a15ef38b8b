import ArgumentParser
import Foundation
import JobKit

struct Recover: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Recover stuck jobs now: expired leases and jobs past their timeout.",
        discussion: """
            A running job whose lease expired goes back to scheduled if it reported no progress and \
            has attempts left, else to failed; one whose cancellation was requested ends cancelled. \
            Jobs past their timeout fail. --policy changes that for a job type, as \
            JobService.Configuration.stuckJobPolicies does in the processes: retry reschedules \
            whatever the progress, fail always fails.
            """)

    @Option(name: .customLong("policy"), help: ArgumentHelp(
        "A job type's stuck-job policy, TYPE=by-progress|retry|fail; repeat for more types.", valueName: "type=policy"))
    var policies: [String] = []

    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        _ = try self.stuckJobPolicies()
    }

    /// The `--policy` options by type.
    func stuckJobPolicies() throws -> [String: StuckJobPolicy] {
        var result: [String: StuckJobPolicy] = [:]
        for option in self.policies {
            let parts = option.split(separator: "=", maxSplits: 1).map(String.init)
            let names: [String: StuckJobPolicy] = ["by-progress": .byProgress, "retry": .retry, "fail": .fail]
            guard parts.count == 2, !parts[0].isEmpty, let policy = names[parts[1]] else {
                throw ValidationError("--policy takes TYPE=by-progress|retry|fail, not \(option)")
            }
            guard result.updateValue(policy, forKey: parts[0]) == nil else {
                throw ValidationError("--policy names the type \(parts[0]) twice")
            }
        }
        return result
    }

    func run() async throws {
        let policies = try self.stuckJobPolicies()
        let report = try await self.connection.withService { try await $0.recoverStuckJobs(policies: policies) }
        print("""
            Recovered \(report.total) \(report.total == 1 ? "job" : "jobs"): \(report.rescheduled) rescheduled, \
            \(report.failed) failed, \(report.cancelled) cancelled, \(report.timedOut) timed out.
            """)
    }
}
