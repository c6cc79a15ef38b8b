import Foundation
import JobKit
import LibPQ
import PostgresTestSupport
import ServiceLifecycleTestKit
import Testing

/// A fresh database, a pool over it and a migrated ``JobService``: what one guide's test needs.
struct DocumentationFixture: Sendable {
    /// Where the database is.
    let configuration: PostgresConfiguration
    /// A pool of 20 connections.
    let pool: PostgresConnectionPool
    /// A migrated service with short intervals, so that tests wait little.
    let jobs: JobService

    /// A service as another process would have: its own pool and worker id.
    func otherService(workerID: String) -> JobService {
        JobService(pool: PostgresConnectionPool(connection: self.configuration), configuration: .init(workerID: workerID))
    }
}

/// Runs `body` with a fresh, migrated database; closes the pool and drops the database afterwards.
func withDocumentationFixture<Result>(
    _ prefix: String,
    _ body: (DocumentationFixture) async throws -> Result
) async throws -> Result {
    let configuration = try await TestPostgres.makeDatabase(prefix: "docs_\(prefix)")
    let pool = PostgresConnectionPool(connection: configuration, configuration: .init(maximumConnections: 20))
    let jobs = JobService(
        pool: pool,
        configuration: .init(
            workerID: "docs-\(prefix)", leaseDuration: .seconds(30), heartbeatInterval: .milliseconds(500),
            pollInterval: .milliseconds(200)))
    let fixture = DocumentationFixture(configuration: configuration, pool: pool, jobs: jobs)
    do {
        try await jobs.migrate()
        let result = try await body(fixture)
        await fixture.close()
        return result
    } catch {
        await fixture.close()
        throw error
    }
}

extension DocumentationFixture {
    fileprivate func close() async {
        let name = try? await self.pool.query("SELECT current_database()").first?.decode(String.self, at: 0)
        await self.pool.close()
        guard let name, let server = try? await TestPostgres.serverURL(),
            let admin = try? await PostgresConnection.connect(to: PostgresConfiguration(server))
        else { return }
        _ = try? await admin.query("DROP DATABASE IF EXISTS \(unescaped: name) WITH (FORCE)")
        await admin.close()
    }

    /// Creates the `documents` table that the samples write to beside their jobs.
    func createDocumentsTable() async throws {
        try await self.pool.query("CREATE TABLE documents (id uuid PRIMARY KEY, name text NOT NULL)")
    }

    /// How many rows `documents` holds.
    func documentCount() async throws -> Int {
        try #require(try await self.pool.query("SELECT count(*) FROM documents").first).decode(Int.self, at: 0)
    }
}

/// A condition did not hold before its deadline.
struct DeadlinePassed: Error, CustomStringConvertible {
    var condition: String
    var description: String { "timed out waiting for \(self.condition)" }
}

/// Checks `condition` every 20 ms until it holds; throws ``DeadlinePassed`` after `timeout`.
/// Waits for a state, never sleeps for one.
func waitUntil(_ what: String, timeout: Duration = .seconds(60), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        guard ContinuousClock.now < deadline else { throw DeadlinePassed(condition: what) }
        try await Task.sleep(for: .milliseconds(20))
    }
}

/// Runs `run` (which runs a `ServiceGroup` or a service) until `condition` holds, then triggers
/// a graceful shutdown and waits for `run` to return.
func runUntil(
    _ what: String,
    timeout: Duration = .seconds(60),
    _ run: @escaping @Sendable () async throws -> Void,
    condition: @escaping @Sendable () async throws -> Bool
) async throws {
    try await testGracefulShutdown { trigger in
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await run() }
            try await waitUntil(what, timeout: timeout, condition)
            trigger.triggerGracefulShutdown()
            try await group.waitForAll()
        }
    }
}
