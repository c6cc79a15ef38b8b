import ArgumentParser
import Foundation
import JobKit

struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show job counts per status, queue and type, and run times.")

    @Option(help: "How far back run times are averaged, such as 30m, 1h or 7d.")
    var window = TimeSpan(duration: .seconds(3600), description: "1h")

    @Flag(help: "Print JSON.")
    var json = false

    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        let stats = try await self.connection.withService { try await $0.stats(window: self.window.duration) }
        if self.json { try JSONOutput.print(stats) } else { Self.print(stats, window: self.window) }
    }

    static func print(_ stats: JobStats, window: TimeSpan) {
        let statuses = JobStatus.allCases.map { "\($0) \(stats.byStatus[$0.rawValue] ?? 0)" }.joined(separator: ", ")
        Swift.print("\(stats.total) jobs: \(statuses)")
        Swift.print("running: \(stats.leased) leased, \(stats.stuck) stuck (lease expired)")
        Swift.print("run time over \(window): mean \(TextOutput.seconds(stats.averageProcessingSeconds)), p95 \(TextOutput.seconds(stats.p95ProcessingSeconds))")
        Swift.print("finished in the last minute: \(stats.finishedLastMinute)")
        Swift.print("oldest runnable: \(TextOutput.date(stats.oldestScheduledAt)), oldest running since: \(TextOutput.date(stats.oldestInProgressStartedAt))")
        Swift.print("periodic schedules: \(stats.schedules)")
        for (title, groups) in [("QUEUE", stats.byQueue), ("TYPE", stats.byType)] where !groups.isEmpty {
            Swift.print("")
            Swift.print(TextOutput.table(
                [title] + JobStatus.allCases.map { $0.rawValue.uppercased() },
                groups.sorted { $0.key < $1.key }.map { name, counts in [name] + JobStatus.allCases.map { "\(counts[$0.rawValue] ?? 0)" } }))
        }
    }
}
