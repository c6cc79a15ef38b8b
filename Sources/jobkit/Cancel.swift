import ArgumentParser
import Foundation
import JobKit

struct Cancel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Cancel a job; a running one is asked to stop.")

    @Argument(help: "The job's id.")
    var id: UUID

    @Option(help: "Why, kept in the job's history.")
    var reason: String?

    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        try await self.connection.withService { jobs in
            let job = try await jobs.cancel(self.id, reason: self.reason, actor: "cli")
            print(job.status == .cancelled ? "Cancelled." : "Cancellation requested; the job stops at its next check.")
        }
    }
}
