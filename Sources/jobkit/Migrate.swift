import ArgumentParser
import JobKit

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply, revert or show JobKit's schema migrations.")

    enum Direction: String, ExpressibleByArgument, CaseIterable {
        case up, down, status
    }

    @Argument(help: "up (apply all pending), down (revert the latest) or status.")
    var direction: Direction = .up

    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        try await self.connection.withService { jobs in
            let migrator = Migrator(pool: jobs.pool, schema: jobs.configuration.schema)
            switch self.direction {
            case .up:
                let applied = try await migrator.migrateUp()
                print(applied.isEmpty ? "Schema is current." : "Applied: \(applied.map(String.init).joined(separator: ", "))")
            case .down:
                let reverted = try await migrator.migrateDown()
                print(reverted.isEmpty ? "Nothing to revert." : "Reverted: \(reverted.map(String.init).joined(separator: ", "))")
            case .status:
                let status = try await migrator.status()
                print("version \(status.current) of \(status.latest); pending: \(status.pending.isEmpty ? "none" : status.pending.map(String.init).joined(separator: ", "))")
            }
        }
    }
}
