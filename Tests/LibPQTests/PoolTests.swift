import Foundation
import LibPQ
import PostgresTestSupport
import Synchronization
import Testing

/// `PostgresConnectionPool` bounds its connections, makes callers wait in turn, times out,
/// and recovers from a server restart on its own.
@Suite(.timeLimit(.minutes(3)))
struct PoolTests {
    private func database() async throws -> PostgresConfiguration {
        try await SuiteDatabase.configuration("pool")
    }

    /// Borrows `count` connections and keeps them until `release` opens; returns once all are held.
    private func hold(
        _ count: Int,
        of pool: PostgresConnectionPool,
        until release: Gate,
        in group: inout ThrowingTaskGroup<Void, any Error>
    ) async throws {
        let held = Recorder<Int>()
        for index in 0..<count {
            group.addTask {
                try await pool.withConnection { connection in
                    try await connection.query("SELECT 1")
                    held.append(index)
                    await release.wait()
                }
            }
        }
        try await waitUntil("\(count) connections held") { held.values.count == count }
    }

    @Test func exhaustedPoolThrowsAcquireTimeoutAfterTheConfiguredTimeout() async throws {
        let timeout = Duration.milliseconds(500)
        let pool = PostgresConnectionPool(
            connection: try await self.database(),
            configuration: .init(maximumConnections: 2, acquireTimeout: timeout))
        let release = Gate()
        try await withThrowingTaskGroup(of: Void.self) { group in
            try await self.hold(2, of: pool, until: release, in: &group)
            let clock = ContinuousClock()
            let start = clock.now
            let error = try await #require(throws: PostgresError.self) {
                try await pool.query("SELECT 1")
            }
            let waited = start.duration(to: clock.now)
            #expect(error.code == .acquireTimeout)
            #expect(waited >= timeout)
            #expect(pool.openConnections == 2)
            release.open()
            try await group.waitForAll()
        }
        await pool.close()
    }

    @Test func waiterGetsAConnectionWhenOneIsReleased() async throws {
        let pool = PostgresConnectionPool(
            connection: try await self.database(),
            configuration: .init(maximumConnections: 2, acquireTimeout: .seconds(30)))
        let releaseFirst = Gate()
        let releaseSecond = Gate()
        try await withThrowingTaskGroup(of: Void.self) { group in
            try await self.hold(1, of: pool, until: releaseFirst, in: &group)
            try await self.hold(1, of: pool, until: releaseSecond, in: &group)
            let waiter = Task { try await pool.query("SELECT 42").first?.decode(Int.self, at: 0) }
            // Whether the waiter is already queued or arrives after the release, it must be
            // served by the released connection, not by a third one.
            releaseFirst.open()
            #expect(try await waiter.value == 42)
            #expect(pool.openConnections == 2)
            releaseSecond.open()
            try await group.waitForAll()
        }
        await pool.close()
    }

    @Test func waitersAreServedAsConnectionsAreReleased() async throws {
        let pool = PostgresConnectionPool(
            connection: try await self.database(),
            configuration: .init(maximumConnections: 1, acquireTimeout: .seconds(30)))
        let results = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<20 {
                group.addTask {
                    try await pool.withConnection { connection in
                        try #require(try await connection.query("SELECT \(index)").first).decode(Int.self, at: 0)
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.sorted() == Array(0..<20))
        #expect(pool.openConnections == 1)
        await pool.close()
    }

    @Test func poolNeverOpensMoreThanItsMaximumUnderFiftyConcurrentQueries() async throws {
        var configuration = try await self.database()
        let applicationName = uniqueName("pool_max")
        configuration.applicationName = applicationName
        let maximum = 5
        let pool = PostgresConnectionPool(
            connection: configuration,
            configuration: .init(maximumConnections: maximum, acquireTimeout: .seconds(60)))
        let openSeen = Recorder<Int>()
        let serverSeen = Recorder<Int>()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<50 {
                group.addTask {
                    try await pool.withConnection { connection in
                        openSeen.append(pool.openConnections)
                        let row = try #require(try await connection.query("""
                            SELECT (SELECT count(*) FROM pg_stat_activity WHERE application_name = \(applicationName)), pg_sleep(0.05)
                            """).first)
                        serverSeen.append(try row.decode(Int.self, at: 0))
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(openSeen.values.count == 50)
        #expect(openSeen.values.allSatisfy { $0 <= maximum })
        #expect(openSeen.values.max() == maximum)
        #expect(serverSeen.values.allSatisfy { $0 <= maximum })
        #expect(serverSeen.values.max() == maximum)
        await pool.close()
    }

    @Test func transactionOnThePoolCommits() async throws {
        let table = uniqueName("pool_tx")
        let pool = PostgresConnectionPool(connection: try await self.database(), configuration: .init(maximumConnections: 2))
        try await pool.query("CREATE TABLE \(unescaped: table) (id int8)")
        _ = try await pool.withTransaction { connection in
            try await connection.query("INSERT INTO \(unescaped: table) VALUES (1)")
        }
        let row = try #require(try await pool.query("SELECT count(*) FROM \(unescaped: table)").first)
        #expect(try row.decode(Int.self, at: 0) == 1)
        await pool.close()
    }

    @Test func closedPoolThrowsPoolClosed() async throws {
        let pool = PostgresConnectionPool(connection: try await self.database())
        try await pool.query("SELECT 1")
        await pool.close()
        let error = try await #require(throws: PostgresError.self) { try await pool.query("SELECT 1") }
        #expect(error.code == .poolClosed)
        #expect(pool.openConnections == 0)
    }

    @Test func poolRecoversFromAServerRestartWithoutCallerAction() async throws {
        // initdb and server starts keep both cores busy for seconds.
        let cluster = try await CPUHeavy.run { try await TestPostgres.privateCluster() }
        do {
            let pool = PostgresConnectionPool(
                connection: PostgresConfiguration(cluster.url),
                configuration: .init(maximumConnections: 2))
            let before = try #require(try await pool.query("SELECT pg_backend_pid()").first).decode(Int32.self, at: 0)
            try await CPUHeavy.run { try await cluster.restart() }
            let row = try #require(try await pool.query("SELECT 1, pg_backend_pid()").first)
            let (one, after) = try row.decode((Int, Int32).self)
            #expect(one == 1)
            #expect(after != before)
            await pool.close()
        } catch {
            try? await cluster.shutdown()
            throw error
        }
        try await cluster.shutdown()
    }
}

/// Runs apart from the tests that load the CPU (see ``CPUHeavy``).
@Suite(.timeLimit(.minutes(2)))
struct CooperativePoolTests {
    @Test func waitingQueriesNeverBlockSwiftsCooperativeThreads() async throws {
        let pool = PostgresConnectionPool(
            connection: try await SuiteDatabase.configuration("cooperative"),
            configuration: .init(maximumConnections: 4, acquireTimeout: .seconds(60)))
        // Open the connections first, so the measurement covers statements only.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<4 { group.addTask { try await pool.query("SELECT pg_sleep(0.05)") } }
            try await group.waitForAll()
        }
        let clock = ContinuousClock()
        let (ticks, batch) = try await CPUHeavy.run {
            try await withThrowingTaskGroup(of: [ContinuousClock.Instant].self) { group in
                group.addTask {
                    var ticks = [clock.now]
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .milliseconds(10))
                        ticks.append(clock.now)
                    }
                    return ticks
                }
                let start = clock.now
                try await withThrowingTaskGroup(of: Void.self) { queries in
                    for _ in 0..<64 {
                        queries.addTask { try await pool.query("SELECT pg_sleep(0.2)") }
                    }
                    try await queries.waitForAll()
                }
                let batch = start.duration(to: clock.now)
                group.cancelAll()
                let ticks = try await group.next() ?? []
                return (ticks, batch)
            }
        }
        await pool.close()
        let gaps = zip(ticks, ticks.dropFirst()).map { $0.duration(to: $1) }
        let largestGap = try #require(gaps.max())
        // 64 statements of 0.2 s over 4 connections take at least 3.2 s.
        #expect(batch >= .seconds(3))
        // Had libpq blocked Swift's cooperative threads (two on this machine), the ticker could
        // not have run while the statements did: its largest gap would be most of the batch.
        // A loaded machine delays ticks by a few hundred milliseconds at worst, so half the
        // batch separates the two cases without depending on the machine's speed.
        #expect(largestGap < batch / 2, "largest gap between ticks: \(largestGap) of a \(batch) batch")
    }
}
