import ArgumentParser
import Foundation
import JobKit

struct Schedules: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the periodic schedules the processes registered, with their next and last ticks.",
        discussion: "Times are UTC; each schedule's expression is read in its time zone.")

    @Flag(help: "Print JSON: {schedules: [...]}.")
    var json = false

    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        let schedules = try await self.connection.withService { try await $0.schedules() }
        if self.json {
            try JSONOutput.print(["schedules": schedules])
        } else {
            print(schedules.isEmpty ? "No schedules." : Self.table(schedules))
        }
    }

    static func table(_ schedules: [RegisteredSchedule]) -> String {
        TextOutput.table(
            ["NAME", "TYPE", "QUEUE", "SCHEDULE", "TIME ZONE", "MISSED", "NEXT TICK", "LAST TICK"],
            schedules.map { schedule in
                [
                    schedule.name, schedule.jobType, schedule.queue, schedule.expression, schedule.timeZone,
                    schedule.backfillLimit.map { "backfill(\($0))" } ?? schedule.missedTicks,
                    TextOutput.date(schedule.nextTickAt), TextOutput.date(schedule.lastTickAt),
                ]
            })
    }
}
