import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JobKit
@testable import JobKitAdmin
import LibPQ
import NIOCore
import PostgresTestSupport
import Testing

// MARK: - A fresh database and an admin router per test

/// The token the tests' servers require.
let adminToken = "admin-test-token-5b1f0c9e"

/// A fresh database, a migrated ``JobService`` over it, and a factory for jobs in any state.
///
/// Made by ``withAdminFixture(_:configuration:_:)``, which closes the pool and drops the
/// database when the test ends, whether it passed or threw.
final class AdminFixture: Sendable {
    let pool: PostgresConnectionPool
    let jobs: JobService
    let databaseName: String

    fileprivate init(configuration: PostgresConfiguration, databaseName: String) {
        self.databaseName = databaseName
        self.pool = PostgresConnectionPool(connection: configuration, configuration: .init(maximumConnections: 10))
        self.jobs = JobService(pool: self.pool, configuration: .init(workerID: "admin-test-worker"))
    }

    /// Puts a new job into `status` through the public API and returns the row as stored.
    ///
    /// `inProgress` is started by `"admin-test-worker"`; `failed` failed with "factory failure"
    /// (so its history has a `failed` entry); `cancelled` was cancelled while scheduled.
    func job(
        in status: JobStatus,
        type: String = "thumbnail",
        options: JobOptions = .init(),
        payload: [String: String] = ["image": "cat.png"]
    ) async throws -> Job {
        let created = try await self.jobs.create(type, payload: payload, options: options)
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

    /// Makes a running job's lease expired a minute ago, as if its worker died.
    func expireLease(_ id: UUID) async throws {
        let rows = try await self.pool.query("""
            UPDATE jobkit.jobs SET lease_expires_at = now() - interval '1 minute' WHERE id = \(id) AND status = 'in_progress'
            """)
        try #require(rows.affectedRows == 1)
    }

    /// Moves a finished job's `finished_at` and `created_at` `seconds` into the past.
    func backdate(_ id: UUID, seconds: Int) async throws {
        let rows = try await self.pool.query("""
            UPDATE jobkit.jobs
            SET finished_at = finished_at - \(seconds) * interval '1 second', created_at = created_at - \(seconds) * interval '1 second'
            WHERE id = \(id)
            """)
        try #require(rows.affectedRows == 1)
    }

    /// The router the tests drive, with `configuration` (by default, the test token).
    func router(_ configuration: AdminServer.Configuration = .init(token: adminToken)) throws -> Router<AdminRequestContext> {
        try buildAdminRouter(jobs: self.jobs, configuration: configuration)
    }
}

/// Runs `body` with a fresh migrated database and a router test client, then closes the pool
/// and drops the database.
func withAdminFixture<Result: Sendable>(
    _ prefix: String,
    configuration: AdminServer.Configuration = .init(token: adminToken),
    _ body: @escaping @Sendable (AdminFixture, any TestClientProtocol) async throws -> Result
) async throws -> Result {
    try await withAdminDatabase(prefix) { fixture in
        let application = Application(router: try fixture.router(configuration))
        return try await application.test(.router) { client in
            try await body(fixture, client)
        }
    }
}

/// Runs `body` with a fresh migrated database, then closes the pool and drops the database.
func withAdminDatabase<Result: Sendable>(_ prefix: String, _ body: (AdminFixture) async throws -> Result) async throws -> Result {
    let configuration = try await TestPostgres.makeDatabase(prefix: "admin_" + prefix)
    let probe = try await PostgresConnection.connect(to: configuration)
    let name = try await probe.query("SELECT current_database()").first?.decode(String.self, at: 0)
    await probe.close()
    let fixture = AdminFixture(configuration: configuration, databaseName: try #require(name))
    do {
        try await fixture.jobs.migrate()
        let result = try await body(fixture)
        await fixture.pool.close()
        await dropDatabase(fixture.databaseName)
        return result
    } catch {
        await fixture.pool.close()
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

// MARK: - Requests

/// How a test request authenticates.
enum Credential: Sendable, CustomStringConvertible {
    /// `Authorization: Bearer <the right token>`.
    case token
    /// `Authorization: Bearer <a wrong token>`.
    case wrongToken
    /// No credential at all.
    case none
    /// The session cookie `jobkit_admin_session=<value>`.
    case cookie(String)
    /// This `Authorization` header.
    case authorization(String)

    var description: String {
        switch self {
        case .token: "good token"
        case .wrongToken: "wrong token"
        case .none: "no token"
        case .cookie: "cookie"
        case .authorization(let value): "Authorization: \(value)"
        }
    }
}

extension TestClientProtocol {
    /// Sends a request and checks the promise every answer keeps: never a 500.
    func call(
        _ method: HTTPRequest.Method,
        _ uri: String,
        _ credential: Credential = .token,
        body: String? = nil,
        headers extra: HTTPFields = [:],
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> TestResponse {
        var headers = extra
        switch credential {
        case .token: headers[.authorization] = "Bearer \(adminToken)"
        case .wrongToken: headers[.authorization] = "Bearer not-the-\(adminToken)"
        case .none: break
        case .cookie(let value): headers[.cookie] = "\(AdminAuthenticator.cookieName)=\(value)"
        case .authorization(let value): headers[.authorization] = value
        }
        if body != nil, headers[.contentType] == nil { headers[.contentType] = "application/json" }
        let response = try await self.executeRequest(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
        #expect(response.status.code != 500, "\(method) \(uri) answered 500: \(response.text)", sourceLocation: sourceLocation)
        return response
    }

    /// Logs in through the form and returns the session cookie's value.
    func login() async throws -> String {
        let response = try await self.call(
            .post, "/admin/login", .none, body: "token=\(adminToken)&next=%2Fadmin%2F",
            headers: [.contentType: "application/x-www-form-urlencoded"])
        try #require(response.status == .seeOther, "login answered \(response.status): \(response.text)")
        let setCookie = try #require(response.headers[.setCookie])
        let pair = try #require(setCookie.split(separator: ";").first)
        let parts = pair.split(separator: "=", maxSplits: 1)
        try #require(parts.count == 2 && parts[0] == AdminAuthenticator.cookieName)
        return String(parts[1])
    }
}

extension TestResponse {
    /// The body as text.
    var text: String { String(buffer: self.body) }

    /// The body as a JSON object.
    func json(sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(self.text.utf8), options: [.fragmentsAllowed])
        return try #require(object as? [String: Any], "not a JSON object: \(self.text)", sourceLocation: sourceLocation)
    }

    /// The `error` object of an error answer.
    func error(sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
        let json = try self.json(sourceLocation: sourceLocation)
        return try #require(json["error"] as? [String: Any], "no error object in \(self.text)", sourceLocation: sourceLocation)
    }

    /// The `error.code` of an error answer.
    func errorCode(sourceLocation: SourceLocation = #_sourceLocation) throws -> String? {
        try self.error(sourceLocation: sourceLocation)["code"] as? String
    }
}

/// The lower-case id, as the API writes it.
func apiID(_ id: UUID) -> String { id.uuidString.lowercased() }
