import Foundation
import LibPQ
import Testing

/// `withTransaction` commits when its body returns and rolls back when the body throws or
/// its task is cancelled; another connection sees the outcome.
@Suite(.timeLimit(.minutes(2)))
struct TransactionTests {
    private struct BodyFailed: Error {}

    private func database() async throws -> PostgresConfiguration {
        try await SuiteDatabase.configuration("transactions")
    }

    /// Creates a one-column table and lends `body` the table name, a connection and an observer
    /// connection that sees only committed rows.
    private func withTable(
        _ body: (_ table: String, _ connection: PostgresConnection, _ observer: PostgresConnection) async throws -> Void
    ) async throws {
        let table = uniqueName("items")
        let configuration = try await self.database()
        try await withConnection(to: configuration) { observer in
            try await observer.execute(script: "CREATE TABLE \(table) (id int8 PRIMARY KEY)")
            try await withConnection(to: configuration) { connection in
                try await body(table, connection, observer)
            }
        }
    }

    @Test func bodyThatReturnsCommits() async throws {
        try await self.withTable { table, connection, observer in
            let result = try await connection.withTransaction { connection in
                try await connection.query("INSERT INTO \(unescaped: table) VALUES (1)")
                try await connection.query("INSERT INTO \(unescaped: table) VALUES (2)")
                return "done"
            }
            #expect(result == "done")
            #expect(try await count(table, on: observer) == 2)
        }
    }

    @Test func bodyThatThrowsRollsBackAndRethrows() async throws {
        try await self.withTable { table, connection, observer throws in
            await #expect(throws: BodyFailed.self) {
                try await connection.withTransaction { connection in
                    try await connection.query("INSERT INTO \(unescaped: table) VALUES (1)")
                    throw BodyFailed()
                }
            }
            #expect(try await count(table, on: observer) == 0)
            // The connection left the transaction: it does not see the row either.
            #expect(try await count(table, on: connection) == 0)
        }
    }

    @Test func failingStatementRollsBackTheWholeTransaction() async throws {
        try await self.withTable { table, connection, observer in
            let error = try await #require(throws: PostgresError.self) {
                try await connection.withTransaction { connection in
                    try await connection.query("INSERT INTO \(unescaped: table) VALUES (1)")
                    try await connection.query("INSERT INTO \(unescaped: table) VALUES (1)")
                }
            }
            #expect(error.sqlState == .uniqueViolation)
            #expect(try await count(table, on: observer) == 0)
            #expect(try await count(table, on: connection) == 0)
        }
    }

    @Test func cancellingDuringAStatementRollsBack() async throws {
        try await self.withTable { table, connection, observer in
            let pid = try await backendPID(of: connection)
            let task = Task {
                try await connection.withTransaction { connection in
                    try await connection.query("INSERT INTO \(unescaped: table) VALUES (1)")
                    try await connection.query("SELECT pg_sleep(30)")
                }
            }
            try await waitUntilRunning("pg_sleep(30)", pid: pid, observer: observer)
            task.cancel()
            await #expect(throws: CancellationError.self) { try await task.value }
            #expect(try await count(table, on: observer) == 0)
            #expect(try await count(table, on: connection) == 0)
        }
    }

    @Test func cancellingBetweenStatementsRollsBack() async throws {
        try await self.withTable { table, connection, observer throws in
            let inserted = Gate()
            let task = Task {
                try await connection.withTransaction { connection in
                    try await connection.query("INSERT INTO \(unescaped: table) VALUES (1)")
                    inserted.open()
                    // Simulated work that outlasts the test unless cancelled.
                    try await Task.sleep(for: .seconds(60))
                }
            }
            await inserted.wait()
            task.cancel()
            await #expect(throws: CancellationError.self) { try await task.value }
            #expect(try await count(table, on: observer) == 0)
            #expect(try await count(table, on: connection) == 0)
        }
    }

    @Test func connectionIsReusableAfterARolledBackTransaction() async throws {
        try await self.withTable { table, connection, observer in
            await #expect(throws: BodyFailed.self) {
                try await connection.withTransaction { _ in throw BodyFailed() }
            }
            _ = try await connection.withTransaction { connection in
                try await connection.query("INSERT INTO \(unescaped: table) VALUES (7)")
            }
            #expect(try await count(table, on: observer, where: "id = 7") == 1)
        }
    }
}
