import Foundation
import LibPQ
import Testing

/// Cancelling the task that waits on a statement cancels the statement on the server.
@Suite(.timeLimit(.minutes(2)))
struct CancellationTests {
    private func database() async throws -> PostgresConfiguration {
        try await SuiteDatabase.configuration("cancel")
    }

    /// Starts `SELECT pg_sleep(10)` on `connection`, cancels its task once the server runs it,
    /// and returns the outcome and how long the statement took from start to end.
    private func cancelSleep(
        on connection: PostgresConnection,
        observer: PostgresConnection
    ) async throws -> (result: Result<PostgresRows, any Error>, elapsed: Duration) {
        let pid = try await backendPID(of: connection)
        let clock = ContinuousClock()
        let start = clock.now
        let task = Task { try await connection.query("SELECT pg_sleep(10)") }
        try await waitUntilRunning("pg_sleep(10)", pid: pid, observer: observer)
        task.cancel()
        let result = await task.result
        return (result, start.duration(to: clock.now))
    }

    @Test func cancellingSleepThrowsCancellationErrorPromptly() async throws {
        try await withConnection(to: try await self.database()) { observer in
            try await withConnection(to: try await self.database()) { connection in
                let (result, elapsed) = try await self.cancelSleep(on: connection, observer: observer)
                #expect(throws: CancellationError.self) { try result.get() }
                // Below the statement's 10 s: the server stopped it, the client did not just stop waiting.
                #expect(elapsed < .seconds(9))
            }
        }
    }

    @Test func cancelledStatementNoLongerRunsOnTheServer() async throws {
        try await withConnection(to: try await self.database()) { observer in
            try await withConnection(to: try await self.database()) { connection in
                let pid = try await backendPID(of: connection)
                _ = try await self.cancelSleep(on: connection, observer: observer)
                let rows = try await observer.query("SELECT state FROM pg_stat_activity WHERE pid = \(pid)")
                #expect(try #require(rows.first).decode(String.self, at: 0) == "idle")
            }
        }
    }

    @Test func connectionIsUsableAfterACancelledStatement() async throws {
        try await withConnection(to: try await self.database()) { observer in
            try await withConnection(to: try await self.database()) { connection in
                let pid = try await backendPID(of: connection)
                _ = try await self.cancelSleep(on: connection, observer: observer)
                let row = try #require(try await connection.query("SELECT 1, pg_backend_pid()").first)
                let (one, samePID) = try row.decode((Int, Int32).self)
                #expect(one == 1)
                #expect(samePID == pid)
                #expect(!connection.isBroken)
            }
        }
    }

    @Test func cancellationThatRacesTheStatementsStartStillCancelsIt() async throws {
        try await withConnection(to: try await self.database()) { connection in
            // Cancel at once, 40 times: some requests reach the server before the statement
            // does, and must be sent again rather than lost.
            for _ in 0..<40 {
                // Long enough that only a lost cancel lets it finish, however loaded the machine.
                let task = Task { try await connection.query("SELECT pg_sleep(30)") }
                await Task.yield()
                task.cancel()
                await #expect(throws: CancellationError.self) { try await task.value }
            }
            let row = try #require(try await connection.query("SELECT 1").first)
            #expect(try row.decode(Int.self, at: 0) == 1)
        }
    }

    @Test func cancellationWhileANewStatementIsPreparedStillCancelsItsExecution() async throws {
        try await withConnection(to: try await self.database()) { connection in
            // Each statement is new to the connection, so each call prepares it first: a cancel
            // that arrives during the preparation must still stop the execution after it.
            for round in 0..<20 {
                let task = Task { try await connection.query("SELECT pg_sleep(30) AS round_\(unescaped: String(round))") }
                await Task.yield()
                task.cancel()
                await #expect(throws: CancellationError.self) { try await task.value }
            }
            let row = try #require(try await connection.query("SELECT 1").first)
            #expect(try row.decode(Int.self, at: 0) == 1)
        }
    }

    @Test func alreadyCancelledTaskThrowsBeforeSendingTheStatement() async throws {
        let table = uniqueName("never")
        try await withConnection(to: try await self.database()) { connection in
            try await connection.execute(script: "CREATE TABLE \(table) (id int8)")
            let gate = Gate()
            let task = Task {
                await gate.wait()
                return try await connection.query("INSERT INTO \(unescaped: table) VALUES (1)")
            }
            task.cancel()
            gate.open()
            await #expect(throws: CancellationError.self) { try await task.value }
            #expect(try await count(table, on: connection) == 0)
        }
    }

    @Test func serverSideStatementTimeoutIsAServerErrorNotACancellation() async throws {
        try await withConnection(to: try await self.database()) { connection in
            try await connection.query("SET statement_timeout = '50ms'")
            let error = try await #require(throws: PostgresError.self) {
                try await connection.query("SELECT pg_sleep(5)")
            }
            #expect(error.code == .server)
            #expect(error.sqlState == .queryCanceled)
        }
    }

    @Test func cancellingAPoolQueryThrowsCancellationErrorAndKeepsThePoolUsable() async throws {
        var configuration = try await self.database()
        configuration.applicationName = uniqueName("cancel_pool")
        let pool = PostgresConnectionPool(connection: configuration, configuration: .init(maximumConnections: 1))
        try await withConnection(to: try await self.database()) { observer in
            let task = Task { try await pool.query("SELECT pg_sleep(10)") }
            try await waitUntil("the pooled pg_sleep to run") {
                let rows = try await observer.query("""
                    SELECT count(*) FROM pg_stat_activity
                    WHERE application_name = \(configuration.applicationName) AND state = 'active'
                    """)
                return try #require(rows.first).decode(Int.self, at: 0) == 1
            }
            task.cancel()
            await #expect(throws: CancellationError.self) { try await task.value }
            let row = try #require(try await pool.query("SELECT 5").first)
            #expect(try row.decode(Int.self, at: 0) == 5)
        }
        await pool.close()
    }
}
