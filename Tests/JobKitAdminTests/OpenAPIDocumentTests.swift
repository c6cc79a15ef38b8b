import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JobKit
import LibPQ
@testable import JobKitAdmin
import Testing

@Suite(.timeLimit(.minutes(2)))
struct OpenAPIDocumentTests {
    /// The repository's copy of the document.
    static var repositoryFile: URL {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Documentation/openapi.json")
    }

    /// The routes of the web page, which the OpenAPI document leaves out (they answer HTML).
    static let pageRoutes: Set<String> = [
        "GET /admin",
        "GET /admin/ui/jobs",
        "GET /admin/ui/jobs/{id}",
        "GET /admin/login",
        "POST /admin/login",
        "POST /admin/logout",
    ]

    @Test func servedDocumentIsTheRepositoryFile() async throws {
        let file = try Data(contentsOf: Self.repositoryFile)
        try await withAdminFixture("openapi_file") { _, client in
            let response = try await client.call(.get, "/admin/openapi.json", .none)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType]?.hasPrefix("application/json") == true)
            #expect(Data(response.text.utf8) == file, "run scripts/admin/embed-openapi.sh after editing Documentation/openapi.json")
        }
    }

    @Test func documentListsExactlyTheRoutesOfTheRouter() throws {
        let document = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: Self.repositoryFile)) as? [String: Any])
        #expect((document["openapi"] as? String)?.hasPrefix("3.") == true)
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        let methods: Set<String> = ["get", "put", "post", "delete", "patch", "head", "options"]
        var documented: Set<String> = []
        for (path, operations) in paths {
            for method in operations.keys where methods.contains(method) {
                documented.insert("\(method.uppercased()) \(path)")
            }
        }
        let pool = PostgresConnectionPoolStub.make()
        let router = try buildAdminRouter(jobs: JobService(pool: pool), configuration: .init(token: adminToken))
        let routed = Set(router.routes.map { "\($0.method.rawValue) \($0.path.description)" })
        #expect(routed.subtracting(Self.pageRoutes) == documented)
        #expect(routed.isSuperset(of: Self.pageRoutes))
    }

    @Test func everyProtectedOperationDocumentsItsRefusalAndItsErrors() throws {
        let document = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: Self.repositoryFile)) as? [String: Any])
        let paths = try #require(document["paths"] as? [String: [String: [String: Any]]])
        for (path, operations) in paths where path != "/admin/openapi.json" {
            for (method, operation) in operations {
                let responses = try #require(operation["responses"] as? [String: Any], "\(method) \(path)")
                #expect(responses["401"] != nil, "\(method) \(path) documents 401")
                if path.contains("{id}") {
                    #expect(responses["400"] != nil && responses["404"] != nil, "\(method) \(path) documents 400 and 404")
                }
                if method == "post" && path.contains("{id}") {
                    #expect(responses["409"] != nil, "\(method) \(path) documents 409")
                }
            }
        }
    }
}

/// A pool that is never used: the router is only built, not driven.
enum PostgresConnectionPoolStub {
    static func make() -> PostgresConnectionPool {
        PostgresConnectionPool(connection: PostgresConfiguration("postgresql://nobody@127.0.0.1:1/none"))
    }
}
