import ArgumentParser
import Foundation
import JobKit

struct Retry: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send a failed job back to run now, granting another attempt if needed.",
        discussion: "Exits 3 if there is no such job, 4 if it has not failed.")

    @Argument(help: "The job's id.")
    var id: UUID

    @OptionGroup var actor: ActorOptions
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        let job = try await self.connection.withService { try await $0.retry(self.id, actor: self.actor.name) }
        print("Scheduled again: attempt \(job.attempt + 1) of \(job.maxAttempts).")
    }
}
