import Foundation
import JobKit
import LibPQ
import PostgresTestSupport
import Synchronization
import Testing

// MARK: - A fresh database per test

/// A fresh database on the test server, a pool over it and a ``JobService`` whose schema is
/// migrated: everything one lifecycle test needs, isolated from every other test.
///
/// Made by ``withJobKitFixture(_:schema:migrate:_:)``, which closes every pool the fixture made
/// and drops the database when the test ends, whether it passed or threw.
final class JobKitFixture: Sendable {
    /// Where the database is.
    let configuration: PostgresConfiguration
    /// The database's name.
    let databaseName: String
    /// The main pool (20 connections).
    let pool: PostgresConnectionPool
    /// The main service, worker id `"worker-main"`.
    let jobs: JobService
    /// The schema `jobs` uses.
    let schema: String
    /// Pools made for further services or migrators, closed with the fixture.
    private let otherPools = Mutex<[PostgresConnectionPool]>([])

    fileprivate init(configuration: PostgresConfiguration, databaseName: String, schema: String) {
        self.configuration = configuration
        self.databaseName = databaseName
        self.schema = schema
        self.pool = PostgresConnectionPool(connection: configuration, configuration: .init(maximumConnections: 20))
        self.jobs = JobService(pool: self.pool, configuration: .init(schema: schema, workerID: "worker-main"))
    }

    /// A pool of its own on the same database, as another process would have; a
    /// `statementCacheCapacity` of 0 prepares no statement (as behind an old PgBouncer).
    func makePool(maximumConnections: Int = 20, statementCacheCapacity: Int? = nil) -> PostgresConnectionPool {
        var connection = self.configuration
        if let statementCacheCapacity { connection.statementCacheCapacity = statementCacheCapacity }
        let pool = PostgresConnectionPool(connection: connection, configuration: .init(maximumConnections: maximumConnections))
        self.otherPools.withLock { $0.append(pool) }
        return pool
    }

    /// Another service on the same database with a pool and worker id of its own: a second process.
    func makeService(workerID: String, schema: String? = nil) -> JobService {
        JobService(pool: self.makePool(), configuration: .init(schema: schema ?? self.schema, workerID: workerID))
    }

    fileprivate func close() async {
        await self.pool.close()
        for pool in self.otherPools.withLock({ $0 }) { await pool.close() }
    }

    // MARK: Factory

    /// Puts a new job into `status` through the public API and returns the row as stored.
    ///
    /// `inProgress` is started by `"worker-main"`; `failed` failed with "factory failure";
    /// `cancelled` was cancelled while scheduled.
    func job(
        in status: JobStatus,
        type: String = "thumbnail",
        options: JobOptions = .init()
    ) async throws -> Job {
        let created = try await self.jobs.create(type, payload: ["image": "cat.png"], options: options)
        switch status {
        case .scheduled:
            break
        case .inProgress:
            _ = try await self.jobs.start(created.id)
        case .done:
            _ = try await self.jobs.start(created.id)
            try await self.jobs.complete(created.id, result: ["width": 64])
        case .failed:
            _ = try await self.jobs.start(created.id)
            try await self.jobs.fail(created.id, message: "factory failure")
        case .cancelled:
            try await self.jobs.cancel(created.id, reason: "factory")
        }
        let stored = try await self.jobs.job(created.id)
        try #require(stored.status == status)
        return stored
    }

    /// Simulates a lease that ran out and a rescuer that put the job back: the running job
    /// becomes `scheduled` with no lease, by SQL.
    func expireLeaseAndReschedule(_ id: UUID) async throws {
        let rows = try await self.pool.query("""
            UPDATE \(unescaped: self.schema).jobs
            SET status = 'scheduled', lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, updated_at = now()
            WHERE id = \(id) AND status = 'in_progress'
            """)
        try #require(rows.affectedRows == 1)
    }

    /// Moves a finished job's `finished_at` (and `created_at`) `age` into the past, by SQL.
    func backdate(_ ids: [UUID], by age: Duration) async throws {
        let rows = try await self.pool.query("""
            UPDATE \(unescaped: self.schema).jobs
            SET finished_at = finished_at - \(age.components.seconds) * interval '1 second',
                created_at = created_at - \(age.components.seconds) * interval '1 second'
            WHERE id = ANY(\(ids))
            """)
        try #require(rows.affectedRows == ids.count)
    }

    // MARK: SQL helpers

    /// `SELECT count(*) FROM <schema>.<table> WHERE <condition>`.
    func count(_ table: String, where condition: PostgresQuery = "TRUE") async throws -> Int {
        var query: PostgresQuery = "SELECT count(*) FROM \(unescaped: self.schema).\(unescaped: table) WHERE "
        query.append(condition)
        return try #require(try await self.pool.query(query).first).decode(Int.self, at: 0)
    }

    /// The database server's `now()`.
    func databaseNow() async throws -> Date {
        try #require(try await self.pool.query("SELECT now()").first).decode(Date.self, at: 0)
    }
}

/// Runs `body` with a fresh database, pool and service (migrated unless `migrate` is false),
/// then closes the pools and drops the database.
///
/// - Parameters:
///   - prefix: A readable part of the database's name, such as the suite's.
///   - schema: The service's schema. Defaults to `"jobkit"`.
///   - migrate: Whether to migrate the schema first. Defaults to `true`.
///   - body: The test.
func withJobKitFixture<Result>(
    _ prefix: String,
    schema: String = "jobkit",
    migrate: Bool = true,
    _ body: (JobKitFixture) async throws -> Result
) async throws -> Result {
    let configuration = try await TestPostgres.makeDatabase(prefix: prefix)
    let probe = try await PostgresConnection.connect(to: configuration)
    let name = try await probe.query("SELECT current_database()").first?.decode(String.self, at: 0)
    await probe.close()
    let fixture = JobKitFixture(configuration: configuration, databaseName: try #require(name), schema: schema)
    do {
        if migrate { try await fixture.jobs.migrate() }
        let result = try await body(fixture)
        await fixture.close()
        await dropDatabase(fixture.databaseName)
        return result
    } catch {
        await fixture.close()
        await dropDatabase(fixture.databaseName)
        throw error
    }
}

/// Drops a test database, best effort: the server is shared and should not fill up.
private func dropDatabase(_ name: String) async {
    guard let server = try? await TestPostgres.serverURL(),
        let admin = try? await PostgresConnection.connect(to: PostgresConfiguration(server))
    else { return }
    _ = try? await admin.query("DROP DATABASE IF EXISTS \(unescaped: name) WITH (FORCE)")
    await admin.close()
}

// MARK: - Waiting for conditions

/// A condition did not hold before its deadline.
struct DeadlinePassed: Error, CustomStringConvertible {
    var condition: String
    var description: String { "timed out waiting for \(self.condition)" }
}

/// Polls `condition` every 10 ms until it holds; throws ``DeadlinePassed`` after `timeout`.
/// Waits for a state, never sleeps for one.
func pollUntil(
    _ what: String,
    timeout: Duration = .seconds(60),
    _ condition: () async throws -> Bool
) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: timeout)
    while try await !condition() {
        guard clock.now < deadline else { throw DeadlinePassed(condition: what) }
        try await Task.sleep(for: .milliseconds(10))
    }
}

/// What happened, in the order it happened, across tasks.
actor OrderLog {
    private(set) var entries: [String] = []

    func record(_ entry: String) {
        self.entries.append(entry)
    }
}

// MARK: - Small helpers

extension Array {
    /// The single element, or `nil` when there are none or several.
    var onlyElement: Element? { self.count == 1 ? self.first : nil }
}

/// Opens `count` connections of `pool` at once (each held until all are open), so a race that
/// follows runs on warm connections instead of being serialised by connection set-up.
func openConnections(_ pool: PostgresConnectionPool, count: Int) async throws {
    guard count > 0 else { return }
    try await pool.withConnection { connection in
        try await connection.query("SELECT 1")
        try await openConnections(pool, count: count - 1)
    }
}
