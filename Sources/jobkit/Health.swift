import ArgumentParser
import Foundation
import JobKit
import LibPQ

struct Health: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the database, the schema, maintenance and the workers.",
        discussion: "Exits 0 when healthy, 5 when the database is unreachable, 6 on any other problem.")

    @Flag(help: "Print JSON: the report and `healthy`.")
    var json = false

    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        try await self.connection.withService { jobs in
            let health = await jobs.health()
            if self.json { try JSONOutput.print(Self.report(health)) } else { Self.print(health) }
            if !health.databaseReachable {
                // The report says only that the database is unreachable; a query of our own says why.
                try await jobs.pool.query("SELECT 1")
                throw CommandFailure(health.problems.first ?? "the database is unreachable", exitCode: .databaseUnreachable)
            }
            if !health.isHealthy { throw ExitCode.unhealthy }
        }
    }

    /// The health report's fields plus `healthy`.
    static func report(_ health: JobHealth) throws -> [String: JSONValue] {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        var fields = try JSONDecoder().decode([String: JSONValue].self, from: encoder.encode(health))
        fields["healthy"] = .bool(health.isHealthy)
        return fields
    }

    static func print(_ health: JobHealth) {
        Swift.print(health.isHealthy ? "healthy" : "unhealthy")
        for problem in health.problems { Swift.print("  problem: \(problem)") }
        guard health.databaseReachable else { return }
        let latency = health.databaseLatencyMilliseconds.map { String(format: "%.1f ms", $0) } ?? "-"
        Swift.print("database: reachable, \(latency)")
        Swift.print("schema: version \(health.schemaVersion ?? 0) of \(health.expectedSchemaVersion)")
        if let run = health.lastMaintenance {
            Swift.print("maintenance: last run \(TextOutput.date(run.startedAt)) by \(run.leader), \(run.succeeded ? "succeeded" : "had failures")")
        } else {
            Swift.print("maintenance: never run")
        }
        Swift.print("workers: \(health.workers.count)")
        for worker in health.workers {
            Swift.print("  \(worker.id)  queues \(worker.queues.joined(separator: ",")), \(worker.running)/\(worker.concurrency) running, seen \(TextOutput.date(worker.lastSeenAt))")
        }
    }
}
