import Foundation
import LibPQ
import Testing

/// Statements, scripts and row counts on one connection.
@Suite(.timeLimit(.minutes(1)))
struct ConnectionTests {
    private func database() async throws -> PostgresConfiguration {
        try await SuiteDatabase.configuration("connection")
    }

    @Test func scriptRunsEveryStatement() async throws {
        let table = uniqueName("scripted")
        try await withConnection(to: try await self.database()) { connection in
            try await connection.execute(script: """
                CREATE TABLE \(table) (id int8);
                INSERT INTO \(table) VALUES (1);
                INSERT INTO \(table) VALUES (2), (3);
                """)
            #expect(try await count(table, on: connection) == 3)
        }
    }

    @Test func updateReportsAffectedRows() async throws {
        let table = uniqueName("affected")
        try await withConnection(to: try await self.database()) { connection in
            try await connection.execute(script: "CREATE TABLE \(table) (id int8); INSERT INTO \(table) SELECT generate_series(1, 10)")
            let updated = try await connection.query("UPDATE \(unescaped: table) SET id = id + 100 WHERE id > \(6)")
            #expect(updated.affectedRows == 4)
            #expect(updated.isEmpty)
            let deleted = try await connection.query("DELETE FROM \(unescaped: table)")
            #expect(deleted.affectedRows == 10)
        }
    }

    @Test func rowsAreIteratedInOrder() async throws {
        try await withConnection(to: try await self.database()) { connection in
            let rows = try await connection.query("SELECT n, 'row ' || n FROM generate_series(1, \(500)) AS n")
            #expect(rows.count == 500)
            var expected = 1
            for row in rows {
                let (n, label) = try row.decode((Int, String).self)
                #expect(n == expected && label == "row \(expected)")
                expected += 1
            }
        }
    }

    @Test func parametersAreNeverInterpretedAsSQL() async throws {
        let table = uniqueName("injection")
        try await withConnection(to: try await self.database()) { connection in
            try await connection.execute(script: "CREATE TABLE \(table) (name text)")
            let hostile = "x'); DROP TABLE \(table); --"
            try await connection.query("INSERT INTO \(unescaped: table) VALUES (\(hostile))")
            let row = try #require(try await connection.query("SELECT name FROM \(unescaped: table)").first)
            #expect(try row.decode(String.self, at: 0) == hostile)
        }
    }
}
