import ArgumentParser
import Foundation
import JobKit

struct ForceFail: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fail a running (stuck) job by hand; its runner's late result is refused.",
        discussion: "Exits 3 if there is no such job, 4 if it is not running.")

    @Argument(help: "The job's id.")
    var id: UUID

    @Option(help: "Why, stored as the job's error and in its history.")
    var reason: String

    @OptionGroup var actor: ActorOptions
    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        guard !self.reason.isEmpty else { throw ValidationError("--reason must not be empty.") }
    }

    func run() async throws {
        let job = try await self.connection.withService { try await $0.forceFail(self.id, reason: self.reason, actor: self.actor.name) }
        print("Failed: \(job.errorMessage ?? self.reason)")
    }
}
