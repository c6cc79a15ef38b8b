import ArgumentParser
import Foundation
import JobKit
import JobKitAdmin
import Logging
import ServiceLifecycle

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the admin HTTP API and dashboard, and run maintenance, until SIGINT or SIGTERM.",
        discussion: """
            Runs no workers: the CLI has no job handlers. Run a JobExecutor with your handlers in your \
            own process (several processes may serve and run workers side by side). What serve runs: the \
            admin server (JSON API and dashboard under /admin/), the maintenance service (recovery, \
            validation, retention; one leader at a time across processes, so it is safe to run it \
            beside others) and JobKit's notification listener. It prints the address once it listens; \
            log entries go to standard error.
            """)

    @Option(help: "The address to bind. A non-loopback address needs a token.")
    var host = "127.0.0.1"

    @Option(help: "The TCP port; 0 for any free port.")
    var port = 8080

    @Option(help: "The bearer token every request must carry. Defaults to JOBKIT_ADMIN_TOKEN.")
    var token: String?

    @Flag(help: "Serve without a token; allowed only on a loopback address.")
    var allowUnauthenticatedLoopback = false

    @Flag(inversion: .prefixedNo, help: "Run the maintenance service.")
    var maintenance = true

    @Option(help: "The time between maintenance runs, such as 30s or 5m.")
    var maintenanceInterval = TimeSpan(duration: .seconds(60), description: "1m")

    @Option(help: "The least severe log entries written to standard error.")
    var logLevel = Logger.Level.info

    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        guard (0...65535).contains(self.port) else { throw ValidationError("--port must be within 0...65535, not \(self.port).") }
        guard self.maintenanceInterval.duration >= .seconds(1) else { throw ValidationError("--maintenance-interval must be at least 1s.") }
    }

    func run() async throws {
        var logger = Logger(label: "jobkit", factory: { label in StreamLogHandler.standardError(label: label) })
        logger.logLevel = self.logLevel
        let environment = ProcessInfo.processInfo.environment
        try await self.connection.withService(connections: 10, logger: logger) { jobs in
            let maintenance = MaintenanceService(service: jobs, configuration: .init(interval: self.maintenanceInterval.duration), logger: logger)
            let admin = try AdminServer(
                jobs: jobs,
                configuration: .environment(
                    environment, host: self.host, port: self.port, token: self.token,
                    allowsUnauthenticatedLoopback: self.allowUnauthenticatedLoopback),
                logger: logger,
                onServerRunning: { [host = self.host] port in Serve.announce("Admin server listening on http://\(host):\(port)/admin/") })
            let services: [any Service] = self.maintenance ? [jobs, maintenance, admin] : [jobs, admin]
            try await ServiceGroup(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger).run()
        }
    }

    /// One line on standard output, unbuffered so that a pipe sees it at once.
    private static func announce(_ line: String) {
        FileHandle.standardOutput.write(Data("\(line)\n".utf8))
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
