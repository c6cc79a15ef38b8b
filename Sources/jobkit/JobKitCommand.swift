import ArgumentParser
import Foundation

@main
struct JobKitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobkit",
        abstract: "Track and run jobs durably in PostgreSQL.",
        discussion: """
            The database is --database-url, else DATABASE_URL, else libpq's PG* variables.
            Read commands (stats, health, list, show, validate, schedules) take --json: sorted keys, ISO-8601 dates.

            Exit codes:
              0  success
              1  unexpected failure
              2  usage error: a bad argument or option
              3  not found: no job has that id
              4  conflict: the job's status does not allow the change (illegal transition)
              5  the database is unreachable
              6  unhealthy: `jobkit health` found problems
            Errors are one line on standard error.
            """,
        subcommands: [
            Demo.self, Migrate.self, Serve.self,
            Stats.self, Health.self, List.self, Show.self, Watch.self, Schedules.self,
            Cancel.self, Retry.self, ForceFail.self, ForceReset.self,
            Cleanup.self, Recover.self, Validate.self,
            Queues.self, Pause.self, Resume.self, Limit.self,
        ])

    /// Parses and runs a subcommand, exiting with the codes listed in the discussion.
    static func main() async {
        var command: any ParsableCommand
        do {
            command = try await self.asyncParseAsRoot()
        } catch {
            self.exit(withParserError: error)
        }
        do {
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error where error is ExitCode || self.exitCode(for: error) != .failure {
            // argument-parser's own: help (`jobkit help list` runs a command), usage errors, exit codes.
            self.exit(withParserError: error)
        } catch {
            let failure = CommandFailure(error)
            FileHandle.standardError.write(Data("Error: \(failure.description)\n".utf8))
            Foundation.exit(failure.exitCode.rawValue)
        }
    }

    /// Exits as argument-parser would, except that usage errors exit 2 rather than `EX_USAGE`.
    private static func exit(withParserError error: any Error) -> Never {
        guard self.exitCode(for: error) == .validationFailure else { self.exit(withError: error) }
        FileHandle.standardError.write(Data("\(self.fullMessage(for: error))\n".utf8))
        Foundation.exit(ExitCode.usage.rawValue)
    }
}
