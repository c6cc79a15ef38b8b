import ArgumentParser

@main
struct JobKitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobkit",
        abstract: "Track and run jobs durably in PostgreSQL.",
        subcommands: [Demo.self, Migrate.self, Show.self, Cancel.self])
}
