import JobKit
import Logging
import Vapor

@main
enum Entrypoint {
    static func main() async throws {
        var environment = try Environment.detect()
        try LoggingSystem.bootstrap(from: &environment)
        let logger = Logger(label: "example.vapor")
        try await ExampleDatabase.with(logger: logger) { [environment] database in
            let app = try await Application.make(environment)
            do {
                try await configure(app, databaseURL: database.url)
                // Serves until SIGINT or SIGTERM; then asyncShutdown stops the workers gracefully.
                try await app.execute()
                try await app.asyncShutdown()
            } catch {
                app.logger.report(error: error)
                try? await app.asyncShutdown()
                throw error
            }
        }
    }
}
