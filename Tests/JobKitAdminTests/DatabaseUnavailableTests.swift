import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JobKit
import JobKitAdmin
import LibPQ
import Testing

@Suite(.timeLimit(.minutes(2)))
struct DatabaseUnavailableTests {
    @Test func unreachableDatabaseIs503WithoutDetails() async throws {
        // Port 1 on loopback: nothing listens, so every connection attempt is refused.
        let pool = PostgresConnectionPool(
            connection: PostgresConfiguration("postgresql://postgres@127.0.0.1:1/jobkit?connect_timeout=2"),
            configuration: .init(maximumConnections: 2, acquireTimeout: .seconds(5)))
        let router = try buildAdminRouter(jobs: JobService(pool: pool), configuration: .init(token: adminToken))
        try await Application(router: router).test(.router) { client in
            for uri in ["/admin/stats", "/admin/jobs", "/admin/jobs/\(apiID(UUID()))"] {
                let response = try await client.call(.get, uri)
                #expect(response.status == .serviceUnavailable, "\(uri): \(response.text)")
                #expect(try response.errorCode() == "database_unavailable")
                #expect(try response.error()["message"] as? String == "database unavailable")
            }
            let cancel = try await client.call(.post, "/admin/jobs/\(apiID(UUID()))/cancel")
            #expect(cancel.status == .serviceUnavailable)
            let health = try await client.call(.get, "/admin/health")
            #expect(health.status == .serviceUnavailable)
            #expect(try health.json()["database_reachable"] as? Bool == false)
            let page = try await client.call(.get, "/admin/")
            #expect(page.status == .serviceUnavailable)
            #expect(page.text.contains(#"data-code="database_unavailable""#))
        }
        await pool.close()
    }
}
