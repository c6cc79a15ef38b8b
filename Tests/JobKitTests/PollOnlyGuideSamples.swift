import JobKit
import LibPQ

/// The Swift blocks of `Documentation/PollOnly.md`, compiled here so they stay true (not run).
enum PollOnlyGuideSamples {
    static func configuration(pgbouncerURL: String, handlers: [any JobHandler]) -> (JobService, JobExecutor) {
        var connection = PostgresConfiguration(pgbouncerURL)
        connection.statementCacheCapacity = 0  // only for PgBouncer before 1.21 (see below)
        let pool = PostgresConnectionPool(connection: connection)
        let jobs = JobService(pool: pool, configuration: .init(
            heartbeatInterval: .seconds(2),  // also the longest a remote cancellation takes
            pollInterval: .milliseconds(500),  // how often updates(of:) and result(of:as:) re-read
            usesNotifications: false))
        let executor = JobExecutor(service: jobs, handlers: handlers, configuration: .init(
            concurrency: 20,
            pollInterval: .milliseconds(250)))  // the longest a new job waits for an idle executor
        return (jobs, executor)
    }

    static func maintenance(directURL: String) -> MaintenanceService {
        let direct = JobService(
            pool: PostgresConnectionPool(connection: .init(directURL), configuration: .init(maximumConnections: 2)),
            configuration: .init(usesNotifications: false))
        let maintenance = MaintenanceService(service: direct)
        return maintenance
    }
}
