import Foundation
import LibPQ
import Testing

/// Failures come back as ``PostgresError`` with their code, SQLSTATE and context, and never
/// leak SQL or passwords into what strangers may see.
@Suite(.timeLimit(.minutes(2)))
struct ErrorTests {
    private func database() async throws -> PostgresConfiguration {
        try await SuiteDatabase.configuration("errors")
    }

    // MARK: - Server errors

    @Test func syntaxErrorThrowsServerErrorWithSQLStateAndServerMessage() async throws {
        try await withConnection(to: try await self.database()) { connection in
            let error = try await #require(throws: PostgresError.self) {
                try await connection.query("SELEC 1")
            }
            #expect(error.code == .server)
            #expect(error.sqlState == .syntaxError)
            #expect(error.message == "syntax error at or near \"SELEC\"")
            #expect(error.severity == "ERROR")
            #expect(error.statement == "SELEC 1")
        }
    }

    @Test func uniqueViolationNamesTheConstraintAndLeavesTheRowUnchanged() async throws {
        let table = uniqueName("users")
        try await withConnection(to: try await self.database()) { connection in
            try await connection.execute(script: """
                CREATE TABLE \(table) (id int8 PRIMARY KEY, email text NOT NULL, CONSTRAINT \(table)_email_unique UNIQUE (email))
                """)
            try await connection.query("INSERT INTO \(unescaped: table) VALUES (1, \("a@example.com"))")
            let error = try await #require(throws: PostgresError.self) {
                try await connection.query("INSERT INTO \(unescaped: table) VALUES (2, \("a@example.com"))")
            }
            #expect(error.code == .server)
            #expect(error.sqlState == .uniqueViolation)
            #expect(error.constraintName == "\(table)_email_unique")
            #expect(error.detail?.contains("a@example.com") == true)
            let rows = try await connection.query("SELECT id, email FROM \(unescaped: table)")
            #expect(rows.count == 1)
            let (id, email) = try #require(rows.first).decode((Int, String).self)
            #expect(id == 1 && email == "a@example.com")
        }
    }

    @Test func errorCarriesTheNameGivenWithNamed() async throws {
        try await withConnection(to: try await self.database()) { connection in
            let query: PostgresQuery = "SELECT 1 / \(0)"
            let error = try await #require(throws: PostgresError.self) {
                try await connection.query(query.named("test.divide"))
            }
            #expect(error.sqlState == SQLState(rawValue: "22012"))
            #expect(error.statementName == "test.divide")
            #expect(error.debugDescription.contains("test.divide"))
        }
    }

    @Test func errorRecordsTheCallersFileAndLine() async throws {
        try await withConnection(to: try await self.database()) { connection in
            var caught: PostgresError?
            let line = #line + 2
            do {
                try await connection.query("SELECT * FROM no_such_table")
            } catch let error as PostgresError {
                caught = error
            }
            let error = try #require(caught)
            #expect(error.sqlState == .undefinedTable)
            #expect(error.file == #fileID)
            #expect(error.line == line)
        }
    }

    @Test func descriptionNeverContainsTheSQLButDebugDescriptionDoes() async throws {
        try await withConnection(to: try await self.database()) { connection in
            let error = try await #require(throws: PostgresError.self) {
                try await connection.query("SELECT 'secret-token-4711' FROM no_such_table_for_description")
            }
            #expect(error.sqlState == .undefinedTable)
            #expect(!error.description.contains("secret-token-4711"))
            #expect(!error.description.contains("no_such_table_for_description"))
            #expect(!"\(error)".contains("secret-token-4711"))
            #expect(error.debugDescription.contains("secret-token-4711"))
            #expect(error.debugDescription.contains("42P01"))
        }
    }

    @Test func connectionStaysUsableAfterAServerError() async throws {
        try await withConnection(to: try await self.database()) { connection in
            await #expect(throws: PostgresError.self) { try await connection.query("SELECT 1 / 0") }
            let row = try #require(try await connection.query("SELECT 2").first)
            #expect(try row.decode(Int.self, at: 0) == 2)
            #expect(!connection.isBroken)
        }
    }

    // MARK: - Connection errors

    @Test func unreachableServerThrowsConnectionFailedNamingHostPortAndDatabase() async throws {
        let error = try await #require(throws: PostgresError.self) {
            try await PostgresConnection.connect(to: PostgresConfiguration("postgresql://postgres@127.0.0.1:1/x"))
        }
        #expect(error.code == .connectionFailed)
        #expect(error.message.contains("127.0.0.1"))
        #expect(error.message.contains("127.0.0.1:1,") || error.message.contains("port 1 "))
        #expect(error.message.contains("database \"x\""))
    }

    @Test(arguments: [
        "postgresql://postgres:Sup3rS3cretPw@127.0.0.1:1/x",
        "postgresql://postgres@127.0.0.1:1/x?password=Sup3rS3cretPw",
        "host=127.0.0.1 port=1 dbname=x user=postgres password=Sup3rS3cretPw",
    ])
    func connectionErrorNeverContainsThePassword(_ connectionString: String) async throws {
        let error = try await #require(throws: PostgresError.self) {
            try await PostgresConnection.connect(to: PostgresConfiguration(connectionString))
        }
        #expect(error.code == .connectionFailed)
        #expect(!error.message.contains("Sup3rS3cretPw"))
        #expect(!error.description.contains("Sup3rS3cretPw"))
        #expect(!error.debugDescription.contains("Sup3rS3cretPw"))
    }

    @Test(arguments: [
        "host=localhost port",  // a key without a value
        "host=localhost no_such_option=1",
        "postgresql://[::1",
        "host='unterminated",
    ])
    func malformedConnectionStringThrowsInvalidConfiguration(_ connectionString: String) async throws {
        let error = try await #require(throws: PostgresError.self) {
            try await PostgresConnection.connect(to: PostgresConfiguration(connectionString))
        }
        #expect(error.code == .invalidConfiguration)
        #expect(!error.message.isEmpty)
    }

    @Test func closedConnectionThrowsConnectionClosed() async throws {
        let connection = try await PostgresConnection.connect(to: try await self.database())
        await connection.close()
        #expect(connection.isBroken)
        let error = try await #require(throws: PostgresError.self) {
            try await connection.query("SELECT 1")
        }
        #expect(error.code == .connectionClosed)
    }

    @Test func connectionKilledInsideATransactionIsNotSilentlyReopened() async throws {
        let table = uniqueName("killed")
        try await withConnection(to: try await self.database()) { observer in
            try await observer.execute(script: "CREATE TABLE \(table) (id int8)")
            try await withConnection(to: try await self.database()) { connection in
                let pid = try await backendPID(of: connection)
                try await connection.query("BEGIN")
                try await connection.query("INSERT INTO \(unescaped: table) VALUES (1)")
                try await observer.query("SELECT pg_terminate_backend(\(pid))")
                try await waitUntil("backend \(pid) to end") {
                    try await observer.query("SELECT 1 FROM pg_stat_activity WHERE pid = \(pid)").isEmpty
                }
                // Running this on a fresh session would commit it outside the transaction.
                let error = try await #require(throws: PostgresError.self) {
                    try await connection.query("INSERT INTO \(unescaped: table) VALUES (2)")
                }
                #expect(error.code == .connectionClosed)
                #expect(connection.isBroken)
                #expect(try await count(table, on: observer) == 0)
            }
        }
    }

    @Test func connectionKilledWhileIdleReopensForTheNextStatement() async throws {
        try await withConnection(to: try await self.database()) { observer in
            try await withConnection(to: try await self.database()) { connection in
                let pid = try await backendPID(of: connection)
                try await observer.query("SELECT pg_terminate_backend(\(pid))")
                try await waitUntil("backend \(pid) to end") {
                    try await observer.query("SELECT 1 FROM pg_stat_activity WHERE pid = \(pid)").isEmpty
                }
                let newPID = try await backendPID(of: connection)
                #expect(newPID != pid)
                #expect(!connection.isBroken)
            }
        }
    }
}
