import ArgumentParser
import Foundation
import JobKit

struct Cancel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Cancel a job; a running one is asked to stop.",
        discussion: "Exits 3 if there is no such job, 4 if it is done or cancelled already.")

    @Argument(help: "The job's id.")
    var id: UUID

    @Option(help: "Why, kept in the job's history.")
    var reason: String?

    @OptionGroup var actor: ActorOptions
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        let job = try await self.connection.withService { try await $0.cancel(self.id, reason: self.reason, actor: self.actor.name) }
        print(job.status == .cancelled ? "Cancelled." : "Cancellation requested; the job stops at its next check.")
    }
}
