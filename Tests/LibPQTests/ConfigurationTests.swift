import Foundation
import LibPQ
import Testing

/// `PostgresConfiguration` hands libpq its connection string, names the application and never
/// shows a password.
@Suite(.timeLimit(.minutes(1)))
struct ConfigurationTests {
    private func database() async throws -> PostgresConfiguration {
        try await SuiteDatabase.configuration("config")
    }

    @Test(arguments: [
        ("postgresql://postgres:Sup3rS3cretPw@127.0.0.1:5432/app", "postgresql://postgres:***@127.0.0.1:5432/app"),
        ("postgres://u:Sup3rS3cretPw@db.example.com/app?sslmode=require", "postgres://u:***@db.example.com/app?sslmode=require"),
        ("postgresql://u@h/app?password=Sup3rS3cretPw&sslmode=disable", "postgresql://u@h/app?password=***&sslmode=disable"),
        ("host=h password=Sup3rS3cretPw dbname=app", "host=h password=*** dbname=app"),
        ("host=h PASSWORD=Sup3rS3cretPw", "host=h PASSWORD=***"),
        ("host=h password = Sup3rS3cretPw dbname=app", "host=h password = *** dbname=app"),
        ("host=h password='Sup3r S3cretPw' dbname=app", "host=h password=*** dbname=app"),
        ("password=Sup3rS3cretPw host=h password=Other3cretPw", "password=*** host=h password=***"),
        ("user=passwordless host=h", "user=passwordless host=h"),
    ])
    func descriptionRedactsThePassword(_ connectionString: String, _ redacted: String) {
        let configuration = PostgresConfiguration(connectionString)
        #expect(configuration.description == redacted)
        #expect(!"\(configuration)".contains("Sup3rS3cretPw"))
    }

    @Test(arguments: [
        "host=h password='Sup3r S3cretPw' dbname=app",
        "host=h password = Sup3rS3cretPw dbname=app",
        "host=h password='it\\'s Sup3rS3cretPw'",
    ])
    func descriptionRedactsQuotedAndSpacedPasswords(_ connectionString: String) {
        let description = PostgresConfiguration(connectionString).description
        #expect(!description.contains("Sup3r"))
        #expect(!description.contains("S3cretPw"))
        #expect(description.contains("host=h"))
    }

    @Test func descriptionWithoutAPasswordIsTheConnectionString() {
        let string = "postgresql://postgres@127.0.0.1:5432/app?application_name=x"
        #expect(PostgresConfiguration(string).description == string)
    }

    @Test func environmentReadsDatabaseURL() {
        #expect(PostgresConfiguration.environment(["DATABASE_URL": "postgresql://h/app"]).connectionString == "postgresql://h/app")
        #expect(PostgresConfiguration.environment([:]).connectionString == "")
    }

    @Test func defaultsAreDocumented() {
        let configuration = PostgresConfiguration()
        #expect(configuration.connectionString == "")
        #expect(configuration.applicationName == "jobkit")
        #expect(configuration.connectTimeout == .seconds(10))
    }

    @Test func applicationNameIsReportedToTheServer() async throws {
        var configuration = try await self.database()
        configuration.applicationName = "jobkit-config-test"
        try await withConnection(to: configuration) { connection in
            let row = try #require(try await connection.query("SHOW application_name").first)
            #expect(try row.decode(String.self, at: 0) == "jobkit-config-test")
        }
    }

    @Test func applicationNameInTheConnectionStringWins() async throws {
        let base = try await self.database()
        let separator = base.connectionString.contains("?") ? "&" : "?"
        var configuration = PostgresConfiguration(base.connectionString + separator + "application_name=from_string")
        configuration.applicationName = "ignored"
        try await withConnection(to: configuration) { connection in
            let row = try #require(try await connection.query("SHOW application_name").first)
            #expect(try row.decode(String.self, at: 0) == "from_string")
        }
    }

    @Test func connectionsUseUTF8() async throws {
        try await withConnection(to: try await self.database()) { connection in
            let row = try #require(try await connection.query("SHOW client_encoding").first)
            #expect(try row.decode(String.self, at: 0) == "UTF8")
        }
    }
}
