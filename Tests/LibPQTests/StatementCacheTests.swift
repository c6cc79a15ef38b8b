import Foundation
import LibPQ
import Testing

/// Each connection prepares the statements it runs and binds them afterwards; a prepared
/// statement the server no longer matches is prepared again, never reported as a failure when
/// the statement could simply run again.
@Suite(.timeLimit(.minutes(3)))
struct StatementCacheTests {
    private func database(capacity: Int? = nil) async throws -> PostgresConfiguration {
        var configuration = try await SuiteDatabase.configuration("statements")
        if let capacity { configuration.statementCacheCapacity = capacity }
        return configuration
    }

    /// The statements this session has prepared, as the server lists them.
    private func prepared(on connection: PostgresConnection) async throws -> [String] {
        try await connection.query("SELECT statement FROM pg_prepared_statements WHERE name LIKE 'jobkit\\_%' ORDER BY prepare_time")
            .map { try $0.decode(String.self, at: 0) }
    }

    @Test func aStatementRunTwiceIsPreparedOnceAndGivesEachRunsRows() async throws {
        try await withConnection(to: try await self.database()) { connection in
            for value in [1, 2, 3] {
                let row = try #require(try await connection.query("SELECT \(value)::int8 * 10 AS tenfold").first)
                #expect(try row.decode(Int.self, at: 0) == value * 10)
            }
            let statements = try await self.prepared(on: connection)
            #expect(statements.filter { $0.contains("* 10 AS tenfold") }.count == 1)
        }
    }

    @Test func aStatementWithAnArrayParameterIsPlannedForEachCallNotPrepared() async throws {
        try await withConnection(to: try await self.database()) { connection in
            for size in [1, 1000] {
                let values = Array(0..<size)
                let row = try #require(try await connection.query("SELECT count(*) AS unprepared_array FROM unnest(\(values)) AS v").first)
                #expect(try row.decode(Int.self, at: 0) == size)
            }
            #expect(try await self.prepared(on: connection).allSatisfy { !$0.contains("unprepared_array") })
        }
    }

    @Test func aStatementMarkedAlwaysIsPreparedDespiteItsArrayParameterAndNeverIsNot() async throws {
        try await withConnection(to: try await self.database()) { connection in
            for size in [1, 1000] {
                let values = Array(0..<size)
                let always: PostgresQuery = "SELECT count(*) AS prepared_array FROM unnest(\(values)) AS v"
                #expect(try #require(try await connection.query(always.preparing(.always)).first).decode(Int.self, at: 0) == size)
                let never: PostgresQuery = "SELECT \(size)::int8 AS never_prepared"
                #expect(try #require(try await connection.query(never.preparing(.never)).first).decode(Int.self, at: 0) == size)
            }
            let statements = try await self.prepared(on: connection)
            #expect(statements.filter { $0.contains("prepared_array") }.count == 1)
            #expect(!statements.contains { $0.contains("never_prepared") })
        }
    }

    @Test func capacityZeroPreparesNothing() async throws {
        try await withConnection(to: try await self.database(capacity: 0)) { connection in
            for value in [1, 2] {
                _ = try await connection.query("SELECT \(value)::int8 AS unprepared")
            }
            _ = try await connection.pipeline(["SELECT 1 AS unprepared_pipelined"])
            #expect(try await self.prepared(on: connection).isEmpty)
        }
    }

    @Test func aFullCacheDeallocatesTheLeastRecentlyUsedStatement() async throws {
        try await withConnection(to: try await self.database(capacity: 3)) { connection in
            _ = try await connection.query("SELECT \(1)::int8 AS first")
            _ = try await connection.query("SELECT \(2)::int8 AS second")
            _ = try await connection.query("SELECT \(3)::int8 AS first")  // `first` is now the more recent
            _ = try await connection.query("SELECT \(4)::int8 AS third")
            // The listing is a statement too: preparing it makes room by evicting `second`.
            let statements = try await self.prepared(on: connection)
            #expect(statements.count == 3)
            #expect(statements.contains { $0.contains("AS first") })
            #expect(statements.contains { $0.contains("AS third") })
            #expect(!statements.contains { $0.contains("AS second") })
            // The evicted statement still runs: it is prepared again.
            let row = try #require(try await connection.query("SELECT \(5)::int8 AS second").first)
            #expect(try row.decode(Int.self, at: 0) == 5)
        }
    }

    @Test func statementsDeallocatedBySomeoneElseArePreparedAgain() async throws {
        try await withConnection(to: try await self.database()) { connection in
            _ = try await connection.query("SELECT \(1)::int8 AS survivor")
            try await connection.execute(script: "DEALLOCATE ALL")
            let row = try #require(try await connection.query("SELECT \(2)::int8 AS survivor").first)
            #expect(try row.decode(Int.self, at: 0) == 2)
            try await connection.execute(script: "DISCARD ALL")
            let again = try #require(try await connection.query("SELECT \(3)::int8 AS survivor").first)
            #expect(try again.decode(Int.self, at: 0) == 3)
        }
    }

    @Test func aMigrationThatChangesAStatementsColumnsIsSeenOnTheNextRun() async throws {
        let table = uniqueName("reshaped")
        try await withConnection(to: try await self.database()) { connection in
            try await connection.execute(script: "CREATE TABLE \(table) (id int8 PRIMARY KEY); INSERT INTO \(table) VALUES (1)")
            let query: PostgresQuery = "SELECT * FROM \(unescaped: table) WHERE id = \(1)"
            #expect(try await connection.query(query).columns.map(\.name) == ["id"])
            try await withConnection(to: try await self.database()) { migrator in
                try await migrator.execute(script: "ALTER TABLE \(table) ADD COLUMN label text NOT NULL DEFAULT 'new'")
            }
            let rows = try await connection.query(query)
            #expect(rows.columns.map(\.name) == ["id", "label"])
            #expect(try #require(rows.first).decode((Int, String).self) == (1, "new"))
        }
    }

    @Test func aStaleStatementInsideATransactionFailsThatTransactionOnly() async throws {
        let table = uniqueName("reshaped_in_tx")
        try await withConnection(to: try await self.database()) { connection in
            try await connection.execute(script: "CREATE TABLE \(table) (id int8 PRIMARY KEY); INSERT INTO \(table) VALUES (1)")
            let query: PostgresQuery = "SELECT * FROM \(unescaped: table) WHERE id = \(1)"
            _ = try await connection.query(query)
            try await withConnection(to: try await self.database()) { migrator in
                try await migrator.execute(script: "ALTER TABLE \(table) ADD COLUMN label text")
            }
            await #expect(throws: PostgresError.self) {
                try await connection.withTransaction { transaction in
                    try await transaction.query(query)
                }
            }
            // Outside the transaction, the statement is prepared again and runs.
            #expect(try await connection.query(query).columns.count == 2)
        }
    }

    @Test func aPipelinePreparesNewStatementsAndReusesThemNextTime() async throws {
        try await withConnection(to: try await self.database()) { connection in
            let queries: [PostgresQuery] = [
                "SELECT \(1)::int8 AS piped", "SELECT \(2)::int8 AS piped", "SELECT \(3)::int8 * 2 AS doubled",
            ]
            for _ in 0..<2 {
                let values = try await connection.pipeline(queries).map { try #require(try $0.get().first).decode(Int.self, at: 0) }
                #expect(values == [1, 2, 6])
            }
            let statements = try await self.prepared(on: connection)
            #expect(statements.filter { $0.contains("AS piped") }.count == 1)
            #expect(statements.filter { $0.contains("AS doubled") }.count == 1)
        }
    }

    @Test func aStatementThatFailsToPrepareInAPipelineReportsItsOwnErrorAndIsNotCached() async throws {
        try await withConnection(to: try await self.database()) { connection in
            let queries: [PostgresQuery] = ["SELECT \(1)::int8 AS before_error", "SELEC broken", "SELECT \(2)::int8 AS after_error"]
            let outcomes = try await connection.pipeline(queries)
            guard case .failure(let error) = outcomes[1], case .failure(let skipped) = outcomes[2] else {
                Issue.record("expected the broken statement and the one after it to fail: \(outcomes)")
                return
            }
            #expect(error.sqlState == .syntaxError)
            #expect(skipped.sqlState == .inFailedTransaction)
            // The statement after the error was never prepared: the next run prepares and runs it.
            let again = try await connection.pipeline([queries[2]])
            #expect(try #require(try again[0].get().first).decode(Int.self, at: 0) == 2)
            let row = try #require(try await connection.query(queries[2]).first)
            #expect(try row.decode(Int.self, at: 0) == 2)
        }
    }

    @Test func aStaleStatementInAPipelineFailsOnceThenRunsAgain() async throws {
        try await withConnection(to: try await self.database()) { connection in
            let query: PostgresQuery = "SELECT \(7)::int8 AS piped_survivor"
            _ = try await connection.pipeline([query])
            try await connection.execute(script: "DEALLOCATE ALL")
            let outcomes = try await connection.pipeline([query])
            guard case .failure(let error) = outcomes[0] else {
                Issue.record("a deallocated statement ran in a pipeline")
                return
            }
            #expect(error.sqlState == .invalidSQLStatementName)
            let again = try await connection.pipeline([query])
            #expect(try #require(try again[0].get().first).decode(Int.self, at: 0) == 7)
        }
    }

    @Test func aReconnectForgetsTheOldSessionsStatements() async throws {
        try await withConnection(to: try await self.database()) { connection in
            let query: PostgresQuery = "SELECT \(1)::int8 AS across_reconnect"
            _ = try await connection.query(query)
            let pid = try #require(try await connection.query("SELECT pg_backend_pid()").first).decode(Int32.self, at: 0)
            try await withConnection(to: try await self.database()) { killer in
                _ = try await killer.query("SELECT pg_terminate_backend(\(pid))")
                try await waitUntil("backend \(pid) to end") {
                    try await killer.query("SELECT 1 FROM pg_stat_activity WHERE pid = \(pid)").isEmpty
                }
            }
            let row = try #require(try await connection.query(query).first)
            #expect(try row.decode(Int.self, at: 0) == 1)
        }
    }
}
