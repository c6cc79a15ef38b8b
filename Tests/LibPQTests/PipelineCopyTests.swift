import Foundation
import LibPQ
import Testing

/// Many statements in one round trip, and `COPY … FROM STDIN` bulk loads.
@Suite(.timeLimit(.minutes(3)))
struct PipelineCopyTests {
    private func database() async throws -> PostgresConfiguration {
        try await SuiteDatabase.configuration("bulk")
    }

    // MARK: - Pipeline

    @Test func pipelineOfAThousandInsertsSucceedsForEachAndStoresEveryRow() async throws {
        let table = uniqueName("pipelined")
        try await withConnection(to: try await self.database()) { connection in
            try await connection.execute(script: "CREATE TABLE \(table) (id int8 PRIMARY KEY, label text)")
            let queries: [PostgresQuery] = (0..<1000).map { index in
                "INSERT INTO \(unescaped: table) (id, label) VALUES (\(index), \("row \(index)"))"
            }
            let outcomes = try await connection.pipeline(queries)
            #expect(outcomes.count == 1000)
            let affected = outcomes.map { outcome in (try? outcome.get())?.affectedRows }
            #expect(affected.allSatisfy { $0 == 1 })
            try await withConnection(to: try await self.database()) { observer in
                let row = try #require(try await observer.query("SELECT count(*), sum(id)::int8, count(DISTINCT label) FROM \(unescaped: table)").first)
                let (rows, sum, labels) = try row.decode((Int, Int, Int).self)
                #expect(rows == 1000)
                #expect(sum == 999 * 1000 / 2)
                #expect(labels == 1000)
            }
        }
    }

    @Test func pipelineReturnsRowsOfEachStatementInOrder() async throws {
        try await withConnection(to: try await self.database()) { connection in
            let queries: [PostgresQuery] = (0..<20).map { "SELECT \($0) AS n, repeat('x', \(Int32($0))) AS s" }
            let outcomes = try await connection.pipeline(queries)
            for (index, outcome) in outcomes.enumerated() {
                let row = try #require(try outcome.get().first)
                let (n, s) = try row.decode((Int, String).self)
                #expect(n == index)
                #expect(s.count == index)
            }
        }
    }

    @Test func pipelineFailureAbortsTheRestAndCommitsNothing() async throws {
        let table = uniqueName("aborted")
        try await withConnection(to: try await self.database()) { connection in
            try await connection.execute(script: "CREATE TABLE \(table) (id int8 PRIMARY KEY)")
            let ids = [1, 2, 3, 2, 4, 5]  // the second 2 violates the primary key
            let queries: [PostgresQuery] = ids.map { "INSERT INTO \(unescaped: table) VALUES (\($0))" }
            let outcomes = try await connection.pipeline(queries)
            #expect(outcomes.count == ids.count)
            for outcome in outcomes[0..<3] {
                #expect((try? outcome.get())?.affectedRows == 1)
            }
            guard case .failure(let failure) = outcomes[3] else {
                Issue.record("the duplicate insert succeeded")
                return
            }
            #expect(failure.code == .server)
            #expect(failure.sqlState == .uniqueViolation)
            for outcome in outcomes[4...] {
                guard case .failure(let skipped) = outcome else {
                    Issue.record("a statement after the failure ran")
                    continue
                }
                #expect(skipped.code == .server)
                #expect(skipped.sqlState == .inFailedTransaction)
            }
            let committed = try await withConnection(to: try await self.database()) { observer in
                try await count(table, on: observer)
            }
            #expect(committed == 0)
        }
    }

    @Test func connectionIsUsableAfterAFailedPipeline() async throws {
        try await withConnection(to: try await self.database()) { connection in
            let outcomes = try await connection.pipeline(["SELECT 1", "SELECT 1 / 0", "SELECT 3"])
            #expect(outcomes.count == 3)
            let row = try #require(try await connection.query("SELECT 4").first)
            #expect(try row.decode(Int.self, at: 0) == 4)
            #expect(!connection.isBroken)
        }
    }

    @Test func emptyPipelineReturnsNoOutcomes() async throws {
        let outcomes = try await withConnection(to: try await self.database()) { connection in
            try await connection.pipeline([])
        }
        #expect(outcomes.isEmpty)
    }

    // MARK: - COPY

    struct Payload: Codable, Equatable, Sendable {
        var index: Int
        var text: String
        var tags: [String]
    }

    /// The text of row `index`: escapes COPY must get right, every few rows.
    private static func note(_ index: Int) -> String? {
        switch index % 7 {
        case 0: nil
        case 1: "tab\there"
        case 2: "line\nbreak and \r carriage return"
        case 3: "back\\slash \\N \\. and \\t literally"
        case 4: "ünïcødé 漢字 🎉"
        case 5: ""
        default: "plain \(index)"
        }
    }

    private static func payload(_ index: Int) -> Payload? {
        index % 11 == 0 ? nil : Payload(index: index, text: "p\t\(index)\n\\", tags: ["a", "\"b\""])
    }

    private static func uuid(_ index: Int) -> UUID {
        UUID(uuidString: String(format: "00000000-0000-4000-8000-%012x", index)) ?? UUID()
    }

    private static func date(_ index: Int) -> Date {
        Date(timeIntervalSince1970: Double(1_600_000_000_000_000 + Int64(index) * 1_000_003 - 3_000_000_000_000) / 1_000_000)
    }

    @Test func copyOfAHundredThousandRowsStoresEveryValue() async throws {
        let table = uniqueName("copied")
        let total = 100_000
        try await withConnection(to: try await self.database()) { connection in
            try await connection.execute(script: """
                CREATE TABLE \(table) (id int8 PRIMARY KEY, note text, ref uuid, at timestamptz, doc jsonb, score float8)
                """)
            let copied = try await CPUHeavy.run {
                var rows = PostgresCopyRows()
                for index in 0..<total {
                    rows.append(
                        index, Self.note(index), Self.uuid(index), Self.date(index),
                        Self.payload(index).map { PostgresJSON($0) }, index % 13 == 0 ? Double?.none : Double(index) / 8)
                }
                #expect(rows.count == total)
                return try await connection.copyFrom("COPY \(table) (id, note, ref, at, doc, score) FROM STDIN", rows: rows)
            }
            #expect(copied == total)
            #expect(try await count(table, on: connection) == total)
            #expect(try await count(table, on: connection, where: "note IS NULL") == (0..<total).count(where: { $0 % 7 == 0 }))
            #expect(try await count(table, on: connection, where: "doc IS NULL") == (0..<total).count(where: { $0 % 11 == 0 }))
            for index in [0, 1, 2, 3, 4, 5, 6, 11, 13, 77, 50_000, 99_999] {
                let row = try #require(try await connection.query("SELECT id, note, ref, at, doc, score FROM \(unescaped: table) WHERE id = \(index)").first)
                let (id, note, ref, at, doc, score) = try row.decode((Int, String?, UUID, Date, PostgresJSON<Payload>?, Double?).self)
                #expect(id == index)
                #expect(note == Self.note(index), "row \(index)")
                #expect(ref == Self.uuid(index))
                #expect(at == Self.date(index))
                #expect(doc?.value == Self.payload(index))
                #expect(score == (index % 13 == 0 ? nil : Double(index) / 8))
            }
        }
    }

    @Test func copyIntoAMissingColumnThrowsTheServerError() async throws {
        let table = uniqueName("copy_error")
        try await withConnection(to: try await self.database()) { connection in
            try await connection.execute(script: "CREATE TABLE \(table) (id int8)")
            var rows = PostgresCopyRows()
            rows.append(1)
            let error = try await #require(throws: PostgresError.self) {
                try await connection.copyFrom("COPY \(table) (no_such_column) FROM STDIN", rows: rows)
            }
            #expect(error.code == .server)
            #expect(error.sqlState == .undefinedColumn)
            let row = try #require(try await connection.query("SELECT 1").first)
            #expect(try row.decode(Int.self, at: 0) == 1)
        }
    }

    @Test func copyOfBadDataThrowsAndCopiesNothing() async throws {
        let table = uniqueName("copy_bad")
        try await withConnection(to: try await self.database()) { connection in
            try await connection.execute(script: "CREATE TABLE \(table) (id int8 PRIMARY KEY)")
            var rows = PostgresCopyRows()
            rows.append(1)
            rows.append(1)
            let error = try await #require(throws: PostgresError.self) {
                try await connection.copyFrom("COPY \(table) (id) FROM STDIN", rows: rows)
            }
            #expect(error.sqlState == .uniqueViolation)
            #expect(try await count(table, on: connection) == 0)
        }
    }
}
