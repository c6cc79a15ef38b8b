import ArgumentParser
import Foundation
import JobKit

struct Show: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show one job and its history.")

    @Argument(help: "The job's id.")
    var id: UUID

    @Flag(help: "Print JSON: {job, history}.")
    var json = false

    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        let (job, history) = try await self.connection.withService { jobs in
            (try await jobs.job(self.id), try await jobs.history(of: self.id))
        }
        if self.json {
            try JSONOutput.print(Detail(job: JobRecord(job), history: history.map(EventRecord.init)))
        } else {
            Self.print(job, history)
        }
    }

    struct Detail: Encodable {
        var job: JobRecord
        var history: [EventRecord]
    }

    static func print(_ job: Job, _ history: [JobEvent]) {
        Swift.print("\(TextOutput.id(job.id))  \(TextOutput.summary(job))")
        Swift.print("  queue \(job.queue), priority \(job.priority), attempt \(job.attempt) of \(job.maxAttempts)")
        Swift.print("  created \(TextOutput.date(job.createdAt)), run at \(TextOutput.date(job.runAt))")
        if let started = job.startedAt { Swift.print("  started \(TextOutput.date(started))") }
        if let finished = job.finishedAt { Swift.print("  finished \(TextOutput.date(finished))") }
        if let lease = job.lease { Swift.print("  leased by \(lease.owner) until \(TextOutput.date(lease.expiresAt))") }
        if let reference = job.reference { Swift.print("  reference \(reference.type) \(reference.id)") }
        if let requested = job.cancelRequestedAt { Swift.print("  cancellation requested \(TextOutput.date(requested))") }
        Swift.print("  payload: \(job.payloadJSON)")
        if let result = job.resultJSON { Swift.print("  result: \(result)") }
        if let error = job.errorMessage { Swift.print("  error: \(error)") }
        if !history.isEmpty { Swift.print("History:") }
        for event in history {
            let move = event.toStatus.map { " \(event.fromStatus?.rawValue ?? "?") → \($0)" } ?? ""
            Swift.print("  \(TextOutput.date(event.at))  \(event.kind)\(move)\(event.message.map { ": \($0)" } ?? "")\(event.actor.map { " by \($0)" } ?? "")")
        }
    }
}
