// The code of Documentation/Tuning.md (see GettingStartedSamples.swift for how it is checked).
import Foundation
import JobKit
import LibPQ

enum TuningSamples {
    static func sizedPool(databaseURL: String) -> PostgresConnectionPool {
        let pool = PostgresConnectionPool(
            connection: PostgresConfiguration(databaseURL, applicationName: "thumbnailer"),
            configuration: .init(maximumConnections: 24, acquireTimeout: .seconds(5)))
        return pool
    }

    static func pollingExecutor(jobs: JobService, handlers: [any JobHandler]) -> JobExecutor {
        let executor = JobExecutor(
            service: jobs,
            handlers: handlers,
            configuration: .init(concurrency: 20, pollInterval: .milliseconds(250), usesNotifications: false))
        return executor
    }
}
