import ArgumentParser
import Foundation
import JobKit

struct ForceReset: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send a running (stuck) or failed job back to scheduled by hand; a runner's late result is refused.",
        discussion: "Exits 3 if there is no such job, 4 if it is neither running nor failed.")

    @Argument(help: "The job's id.")
    var id: UUID

    @Option(help: "Why, kept in the job's history.")
    var reason: String

    @OptionGroup var actor: ActorOptions
    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        guard !self.reason.isEmpty else { throw ValidationError("--reason must not be empty.") }
    }

    func run() async throws {
        let job = try await self.connection.withService { try await $0.forceReset(self.id, reason: self.reason, actor: self.actor.name) }
        print("Scheduled again: attempt \(job.attempt + 1) of \(job.maxAttempts).")
    }
}
