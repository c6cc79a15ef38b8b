import Foundation
import Hummingbird
import HummingbirdTesting
import JobKit
import JobKitAdmin
import LibPQ
import Logging
import Testing

@Suite(.timeLimit(.minutes(3)))
struct EmbeddingGuideTests {
    @Test func oneServiceGroupRunsJobsMaintenanceAndTheAdminServerAndStops() async throws {
        try await withDocumentationFixture("embedding") { fixture in
            // The sample closes the pool it is given: give it one of its own.
            let pool = PostgresConnectionPool(connection: fixture.configuration)
            let id = try await fixture.jobs.enqueue(Thumbnail.self, .init(imageID: UUID(), width: 64))
            try await runUntil("the thumbnail is done and maintenance has run") {
                try await EmbeddingSamples.runEverything(
                    pool: pool, adminConfiguration: .init(port: 0, token: "secret"), logger: Logger(label: "docs"))
            } condition: {
                let health = await fixture.jobs.health()
                return try await fixture.jobs.job(id).status == .done && health.lastMaintenance != nil
            }
            // The executor has left the list of live workers.
            #expect(await fixture.jobs.health().workers.isEmpty)
        }
    }

    @Test func theHummingbirdRoutesEnqueueWithTheDocumentAndReportStatus() async throws {
        try await withDocumentationFixture("embedding_hb") { fixture in
            try await fixture.createDocumentsTable()
            let router = EmbeddingSamples.makeRouter(jobs: fixture.jobs)
            try await Application(router: router).test(.router) { client in
                let jobID = try await client.execute(
                    uri: "/documents", method: .post, headers: [.contentType: "application/json"],
                    body: ByteBuffer(string: #"{"name": "contract.pdf"}"#)
                ) { response in
                    #expect(response.status == .ok)
                    let accepted = try JSONDecoder().decode([String: UUID].self, from: Data(buffer: response.body))
                    return try #require(accepted["jobID"])
                }
                #expect(try await fixture.documentCount() == 1)
                try await client.execute(uri: "/jobs/\(jobID)", method: .get) { response in
                    #expect(response.status == .ok)
                    struct State: Decodable { var status: JobStatus; var progress: Int }
                    let state = try JSONDecoder().decode(State.self, from: Data(buffer: response.body))
                    #expect(state.status == .scheduled)
                    #expect(state.progress == 0)
                }
                try await client.execute(uri: "/jobs/\(UUID())", method: .get) { response in
                    #expect(response.status == .notFound)
                }
                try await client.execute(uri: "/jobs/not-a-uuid", method: .get) { response in
                    #expect(response.status == .badRequest)
                }
            }
        }
    }

    @Test func theAdminConfigurationReadsItsTokenFromTheEnvironment() {
        let configuration = EmbeddingSamples.adminConfiguration()
        #expect(configuration.port == 8081)
        #expect(configuration.host == "0.0.0.0")
    }
}
