import Foundation
import JobKit
@testable import JobKitAdmin
import Testing

/// The parsing of query values, timestamps and redirects, without a database.
struct AdminInputTests {
    @Test func timestampsAcceptISO8601WithOrWithoutZoneAndFraction() throws {
        let noon = try #require(AdminJSON.parseTimestamp("2025-01-31T12:00:00Z"))
        #expect(AdminJSON.parseTimestamp("2025-01-31T12:00:00.000Z") == noon)
        #expect(AdminJSON.parseTimestamp("2025-01-31T14:00:00+02:00") == noon)
        #expect(AdminJSON.parseTimestamp("2025-01-31T12:00:00") == noon, "no zone reads as UTC")
        #expect(AdminJSON.parseTimestamp("2025-01-31T12:00") == noon)
        #expect(AdminJSON.parseTimestamp("2025-01-31") == noon.addingTimeInterval(-12 * 3600))
        for bad in ["", "yesterday", "2025-01-31T12", "31/01/2025", "2025-01-31T12:00:00 02:00", "99999-01-01T00:00:00Z", "0000-01-01T00:00:00Z"] {
            #expect(AdminJSON.parseTimestamp(bad) == nil, "\(bad)")
        }
    }

    @Test func timestampsAreWrittenInUTCWithMilliseconds() throws {
        let date = try #require(AdminJSON.parseTimestamp("2025-01-31T12:00:00.250Z"))
        #expect(AdminJSON.timestamp(date) == "2025-01-31T12:00:00.250Z")
    }

    @Test func queryDecodesPlusAndPercentAndDropsEmptyValues() throws {
        let query = try QueryParameters("type=a+b%26c&queue=&status=done&status=failed&limit")
        #expect(query.all("type") == ["a b&c"])
        #expect(query.all("queue").isEmpty)
        #expect(query.all("status") == ["done", "failed"])
        #expect(try query.single("limit") == nil)
        #expect(throws: AdminAPIError.self) { try query.single("status") }
        #expect(throws: AdminAPIError.self) { try QueryParameters("type=%E2%28") }
    }

    @Test func listQueryReadsEveryFilter() throws {
        let query = try JobListQuery(QueryParameters(
            "status=done,failed&type=ocr&queue=docs&reference_type=document&reference_id=7&created_after=2025-01-01&limit=10&after=0198a0c0-0000-7000-8000-000000000000"))
        #expect(query.filter.statuses == [.done, .failed])
        #expect(query.filter.types == ["ocr"])
        #expect(query.filter.queues == ["docs"])
        #expect(query.filter.reference == JobReference("document", "7"))
        #expect(query.filter.createdAfter == AdminJSON.parseTimestamp("2025-01-01T00:00:00Z"))
        #expect(query.limit == 10)
        #expect(query.cursor == UUID(uuidString: "0198a0c0-0000-7000-8000-000000000000"))
        #expect(try JobListQuery(QueryParameters(nil)).limit == JobListQuery.defaultLimit)
    }

    @Test func loginRedirectStaysOnTheAdminServer() {
        #expect(AdminPages.safeNext("/admin/ui/jobs?status=failed") == "/admin/ui/jobs?status=failed")
        for next in [nil, "", "/", "https://evil.example/admin", "//evil.example", "/admin\\evil", "/admin/\u{0}x", "/other"] {
            #expect(AdminPages.safeNext(next) == "/admin/", "\(String(describing: next))")
        }
    }
}
