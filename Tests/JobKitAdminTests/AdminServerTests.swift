import Foundation
import HTTPTypes
import HummingbirdTesting
import JobKit
import JobKitAdmin
import LibPQ
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import Testing

@Suite(.timeLimit(.minutes(2)))
struct AdminServerTests {
    static let unusedJobs = JobService(pool: PostgresConnectionPoolStub.make())

    @Test func serverRefusesToStartWithoutAToken() {
        #expect(throws: AdminServerError.missingToken()) {
            try AdminServer(jobs: Self.unusedJobs, configuration: .init())
        }
        #expect(throws: AdminServerError.missingToken()) {
            try AdminServer(jobs: Self.unusedJobs, configuration: .init(token: "  "))
        }
        #expect(throws: AdminServerError.missingToken()) {
            try AdminServer(jobs: Self.unusedJobs, configuration: .environment(["JOBKIT_ADMIN_TOKEN": ""]))
        }
    }

    @Test func serverWithoutATokenIsAllowedOnlyOnLoopbackWhenAskedFor() throws {
        for host in ["127.0.0.1", "127.8.9.10", "localhost", "::1"] {
            _ = try AdminServer(jobs: Self.unusedJobs, configuration: .init(host: host, allowsUnauthenticatedLoopback: true))
        }
        for host in ["0.0.0.0", "10.0.0.1", "example.com", "::", "127.0.0.1.example.com"] {
            let error = #expect(throws: AdminServerError.self) {
                try AdminServer(jobs: Self.unusedJobs, configuration: .init(host: host, allowsUnauthenticatedLoopback: true))
            }
            #expect(error?.code == .unauthenticatedNonLoopback, "host \(host)")
            #expect(error?.description.contains(host) == true)
        }
    }

    @Test func outOfRangeSettingsAreRefused() {
        #expect(throws: AdminServerError.invalidPort(70_000)) {
            try AdminServer(jobs: Self.unusedJobs, configuration: .init(port: 70_000, token: "t"))
        }
        #expect(throws: AdminServerError.invalidHost()) {
            try AdminServer(jobs: Self.unusedJobs, configuration: .init(host: "", token: "t"))
        }
        #expect(throws: AdminServerError.invalidSetting("")) {
            try AdminServer(jobs: Self.unusedJobs, configuration: .init(token: "t", sessionLifetime: .zero))
        }
    }

    @Test func environmentSuppliesTheTokenUnlessOneIsGiven() {
        let environment = ["JOBKIT_ADMIN_TOKEN": " from-env\n", "OTHER": "x"]
        #expect(AdminServer.Configuration.environment(environment).token == "from-env")
        #expect(AdminServer.Configuration.environment(environment, token: "flag").token == "flag")
        #expect(AdminServer.Configuration.environment([:]).token == nil)
        let configuration = AdminServer.Configuration.environment(environment, host: "0.0.0.0", port: 9000)
        #expect(configuration.host == "0.0.0.0")
        #expect(configuration.port == 9000)
        #expect(AdminServer.Configuration().port == 8080)
        #expect(AdminServer.Configuration().host == "127.0.0.1")
    }

    @Test func serverOnPortZeroReportsItsPortAndServesUntilShutDown() async throws {
        try await withAdminDatabase("server_live") { fixture in
            try await withLiveAdminServer(fixture) { port in
                #expect(port > 0)
                try await TestClient.withClient(host: "127.0.0.1", port: port) { client in
                    let response = try await client.get("/admin/health", headers: [.authorization: "Bearer \(adminToken)"])
                    #expect(response.status == .ok)
                    let refused = try await client.get("/admin/stats")
                    #expect(refused.status == .unauthorized)
                }
            }
        }
    }
}

/// Runs an ``AdminServer`` on a free port of loopback while `body` runs, then shuts it down
/// gracefully and waits for it to finish.
func withLiveAdminServer<Result: Sendable>(
    _ fixture: AdminFixture,
    configuration: AdminServer.Configuration = .init(port: 0, token: adminToken),
    _ body: @escaping @Sendable (_ port: Int) async throws -> Result
) async throws -> Result {
    let (ports, portContinuation) = AsyncStream<Int>.makeStream()
    let server = try AdminServer(jobs: fixture.jobs, configuration: configuration, onServerRunning: { port in
        portContinuation.yield(port)
        portContinuation.finish()
    })
    let group = ServiceGroup(configuration: .init(services: [server], logger: JobKitLogging.noop))
    return try await withThrowingTaskGroup(of: Result?.self) { tasks in
        tasks.addTask {
            // A server that cannot bind ends here without reporting a port: stop the wait.
            defer { portContinuation.finish() }
            try await group.run()
            return nil
        }
        do {
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next(), "the server reported no port")
            let result = try await body(port)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return result
        } catch {
            await group.triggerGracefulShutdown()
            try? await tasks.waitForAll()
            throw error
        }
    }
}
