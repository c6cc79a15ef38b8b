import ArgumentParser
import Foundation
import JobKit

struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List jobs, newest first, a page at a time.",
        discussion: "After a full page, the last line gives the --after cursor of the next one.")

    @Option(help: "Only jobs in this status (repeatable): \(JobStatus.allValueStrings.joined(separator: ", ")).")
    var status: [JobStatus] = []

    @Option(help: "Only jobs of this type (repeatable).")
    var type: [String] = []

    @Option(help: "Only jobs in this queue (repeatable).")
    var queue: [String] = []

    @Option(help: "At most this many jobs, 1 to 1000.")
    var limit = 50

    @Option(help: "The cursor a previous page printed: list the jobs after it.")
    var after: UUID?

    @Flag(help: "Print JSON: {jobs, nextCursor}.")
    var json = false

    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        guard (1...1000).contains(self.limit) else { throw ValidationError("--limit must be between 1 and 1000, not \(self.limit).") }
    }

    func run() async throws {
        let filter = JobFilter(
            statuses: self.status.isEmpty ? nil : self.status,
            types: self.type.isEmpty ? nil : self.type,
            queues: self.queue.isEmpty ? nil : self.queue)
        let page = try await self.connection.withService { try await $0.list(filter, limit: self.limit, after: self.after) }
        if self.json {
            try JSONOutput.print(Page(jobs: page.jobs.map(JobRecord.init), nextCursor: page.nextCursor.map(TextOutput.id)))
            return
        }
        print(page.jobs.isEmpty ? "No jobs." : Self.table(page.jobs))
        if let next = page.nextCursor { print("More: jobkit list --after \(TextOutput.id(next))") }
    }

    struct Page: Encodable {
        var jobs: [JobRecord]
        var nextCursor: String?

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(self.jobs, forKey: .jobs)
            try container.encode(self.nextCursor, forKey: .nextCursor)  // null on the last page
        }

        enum CodingKeys: String, CodingKey {
            case jobs, nextCursor
        }
    }

    static func table(_ jobs: [Job]) -> String {
        TextOutput.table(
            ["ID", "TYPE", "QUEUE", "STATUS", "PROGRESS", "ATTEMPT", "CREATED"],
            jobs.map { job in
                [
                    TextOutput.id(job.id), job.type, job.queue, job.status.rawValue, "\(job.progress)%",
                    "\(job.attempt)/\(job.maxAttempts)", TextOutput.date(job.createdAt),
                ]
            })
    }
}
