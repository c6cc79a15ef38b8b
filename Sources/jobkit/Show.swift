import ArgumentParser
import Foundation
import JobKit

struct Show: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show one job and its history.")

    @Argument(help: "The job's id.")
    var id: UUID

    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        try await self.connection.withService { jobs in
            let job = try await jobs.job(self.id)
            print("\(job.id.uuidString.lowercased())  \(job.type)  \(job.status)  \(job.progress)%\(job.currentStep.map { " (\($0))" } ?? "")")
            print("  queue \(job.queue), attempt \(job.attempt) of \(job.maxAttempts), created \(job.createdAt)")
            if let error = job.errorMessage { print("  error: \(error)") }
            if let result = job.resultJSON { print("  result: \(result)") }
            for event in try await jobs.history(of: self.id) {
                print("  \(event.at)  \(event.kind)\(event.message.map { ": \($0)" } ?? "")\(event.actor.map { " by \($0)" } ?? "")")
            }
        }
    }
}
