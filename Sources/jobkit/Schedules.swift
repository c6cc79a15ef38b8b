import ArgumentParser
import Foundation
import JobKit

struct Schedules: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List or remove the periodic schedules the processes registered.",
        subcommands: [List.self, Remove.self],
        defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the periodic schedules, with their next and last ticks (the default).",
            discussion: "Times are UTC; each schedule's expression is read in its time zone.")

        @Flag(help: "Print JSON: {schedules: [...]}.")
        var json = false

        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            let schedules = try await self.connection.withService { try await $0.schedules() }
            if self.json {
                try JSONOutput.print(["schedules": schedules])
            } else {
                print(schedules.isEmpty ? "No schedules." : Schedules.table(schedules))
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a schedule: no scheduler enqueues its ticks any more; its jobs stay.",
            discussion: """
                A process that registers the schedule again (a JobScheduler that lists it, at its
                start) brings it back: remove it from the code too. Exits 3 if there is no such schedule.
                """)

        @Argument(help: "The schedule's name.")
        var name: String

        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            try await self.connection.withService { try await $0.removeSchedule(named: self.name) }
            print("Removed schedule \(self.name).")
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
