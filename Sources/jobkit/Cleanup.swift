import ArgumentParser
import Foundation
import JobKit

struct Cleanup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete finished jobs, and their history, older than an age.",
        discussion: "Deletes in batches, so no lock is held for long.")

    @Option(help: "How long ago they must have finished, such as 7d, 12h or 30m.")
    var olderThan: TimeSpan

    @Option(help: "Only jobs in this finished status (repeatable): done, failed, cancelled. Defaults to all three.")
    var status: [JobStatus] = []

    @Option(help: "Rows per DELETE.")
    var batchSize = 1000

    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        if let status = self.status.first(where: { !$0.isFinished }) {
            throw ValidationError("Only finished jobs can be cleaned up, not \(status) ones.")
        }
        guard self.batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1.") }
    }

    func run() async throws {
        let statuses: [JobStatus] = self.status.isEmpty ? [.done, .failed, .cancelled] : self.status
        let deleted = try await self.connection.withService {
            try await $0.cleanup(olderThan: self.olderThan.duration, statuses: statuses, batchSize: self.batchSize)
        }
        print("Deleted \(deleted) \(deleted == 1 ? "job" : "jobs") (\(statuses.map(\.rawValue).joined(separator: ", "))) finished more than \(self.olderThan) ago.")
    }
}
