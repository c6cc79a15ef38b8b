import Foundation
import JobKit
import LibPQ
import PostgresTestSupport
import Testing

/// Listing jobs: filters and keyset pagination, newest first.
@Suite(.timeLimit(.minutes(3)))
struct ListingTests {
    // MARK: - Pagination

    @Test func paginationWalks120JobsNewestFirstInPagesOf50_50And20() async throws {
        try await withJobKitFixture("listing") { fixture in
            var created: [UUID] = []
            for index in 0..<120 {
                created.append(try await fixture.jobs.create("page-test", payload: ["n": index]).id)
            }

            let first = try await fixture.jobs.list(limit: 50)
            let firstCursor: UUID = try #require(first.nextCursor)
            let second = try await fixture.jobs.list(limit: 50, after: firstCursor)
            let secondCursor: UUID = try #require(second.nextCursor)
            let third = try await fixture.jobs.list(limit: 50, after: secondCursor)

            let sizes: [Int] = [first.jobs.count, second.jobs.count, third.jobs.count]
            #expect(sizes == [50, 50, 20])
            #expect(third.nextCursor == nil)
            let listed = (first.jobs + second.jobs + third.jobs).map(\.id)
            #expect(Set(listed).count == 120, "no job twice")
            #expect(listed == created.reversed(), "newest first")
        }
    }

    @Test func pagesFollowCreationTimeNewestFirst() async throws {
        try await withJobKitFixture("listing") { fixture in
            for index in 0..<30 {
                _ = try await fixture.jobs.create("page-test", payload: ["n": index])
            }
            let jobs = try await fixture.jobs.list(limit: 100).jobs
            #expect(jobs.count == 30)
            #expect(zip(jobs, jobs.dropFirst()).allSatisfy { $0.createdAt >= $1.createdAt })
        }
    }

    @Test func exactlyFullLastPageIsFollowedByAnEmptyOne() async throws {
        try await withJobKitFixture("listing") { fixture in
            for _ in 0..<10 { _ = try await fixture.jobs.create("page-test") }
            let first = try await fixture.jobs.list(limit: 10)
            #expect(first.jobs.count == 10)
            let cursor: UUID = try #require(first.nextCursor)
            let rest = try await fixture.jobs.list(limit: 10, after: cursor)
            #expect(rest.jobs.isEmpty)
            #expect(rest.nextCursor == nil)
        }
    }

    @Test func emptyDatabaseListsNothing() async throws {
        try await withJobKitFixture("listing") { fixture in
            let page = try await fixture.jobs.list()
            #expect(page.jobs.isEmpty)
            #expect(page.nextCursor == nil)
        }
    }

    @Test(arguments: [0, -1, 1001])
    func limitOutsideOneToThousandIsAnInvalidArgument(_ limit: Int) async throws {
        try await withJobKitFixture("listing") { fixture in
            _ = try await fixture.jobs.create("page-test")
            let error = try await #require(throws: JobError.self) {
                try await fixture.jobs.list(limit: limit)
            }
            #expect(error.code == .invalidArgument)
            #expect(error.message?.contains("\(limit)") == true)
        }
    }

    // MARK: - Filters

    /// The jobs the filter tests choose from, by what sets them apart.
    struct Seeded {
        var all: Set<UUID> = []
        var byStatus: [JobStatus: Set<UUID>] = [:]
        var byType: [String: Set<UUID>] = [:]
        var byQueue: [String: Set<UUID>] = [:]
        var byReference: [JobReference: Set<UUID>] = [:]
    }

    /// Twenty jobs: every status, two types, two queues, two references (and none).
    static func seed(_ fixture: JobKitFixture) async throws -> Seeded {
        var seeded = Seeded()
        let statuses: [JobStatus] = [.scheduled, .inProgress, .done, .failed, .cancelled]
        let references: [JobReference?] = [.init("document", "d-1"), .init("document", "d-2"), nil, .init("upload", "d-1")]
        for index in 0..<20 {
            let status = statuses[index % 5]
            let type = index % 2 == 0 ? "ocr" : "thumbnail"
            let queue = index % 3 == 0 ? "fast" : "slow"
            let reference = references[index % 4]
            let job = try await fixture.job(in: status, type: type, options: .init(queue: queue, reference: reference))
            seeded.all.insert(job.id)
            seeded.byStatus[status, default: []].insert(job.id)
            seeded.byType[type, default: []].insert(job.id)
            seeded.byQueue[queue, default: []].insert(job.id)
            if let reference { seeded.byReference[reference, default: []].insert(job.id) }
        }
        return seeded
    }

    static func listed(_ fixture: JobKitFixture, _ filter: JobFilter) async throws -> Set<UUID> {
        let page = try await fixture.jobs.list(filter, limit: 1000)
        #expect(page.nextCursor == nil)
        return Set(page.jobs.map(\.id))
    }

    @Test func emptyFilterListsEverything() async throws {
        try await withJobKitFixture("listing") { fixture in
            let seeded = try await Self.seed(fixture)
            #expect(try await Self.listed(fixture, .init()) == seeded.all)
        }
    }

    @Test func statusFilterListsOnlyThoseStatuses() async throws {
        try await withJobKitFixture("listing") { fixture in
            let seeded = try await Self.seed(fixture)
            let expected = seeded.byStatus[.failed, default: []].union(seeded.byStatus[.cancelled, default: []])
            #expect(expected.count == 8)
            #expect(try await Self.listed(fixture, .init(statuses: [.failed, .cancelled])) == expected)
            #expect(try await Self.listed(fixture, .init(statuses: [.inProgress])) == seeded.byStatus[.inProgress])
        }
    }

    @Test func typeFilterListsOnlyThatType() async throws {
        try await withJobKitFixture("listing") { fixture in
            let seeded = try await Self.seed(fixture)
            #expect(try await Self.listed(fixture, .init(types: ["ocr"])) == seeded.byType["ocr"])
            #expect(try await Self.listed(fixture, .init(types: ["nothing"])) == [])
        }
    }

    @Test func queueFilterListsOnlyThatQueue() async throws {
        try await withJobKitFixture("listing") { fixture in
            let seeded = try await Self.seed(fixture)
            #expect(try await Self.listed(fixture, .init(queues: ["fast"])) == seeded.byQueue["fast"])
            #expect(try await Self.listed(fixture, .init(queues: ["fast", "slow"])) == seeded.all)
        }
    }

    @Test func referenceFilterMatchesTypeAndIDTogether() async throws {
        try await withJobKitFixture("listing") { fixture in
            let seeded = try await Self.seed(fixture)
            let document = JobReference("document", "d-1")
            #expect(try await Self.listed(fixture, .init(reference: document)) == seeded.byReference[document])
            // Same id, other type: the upload's jobs are not the document's.
            let upload = JobReference("upload", "d-1")
            #expect(try await Self.listed(fixture, .init(reference: upload)) == seeded.byReference[upload])
            #expect(seeded.byReference[document]?.isDisjoint(with: seeded.byReference[upload] ?? []) == true)
        }
    }

    @Test func filtersCombineWithAnd() async throws {
        try await withJobKitFixture("listing") { fixture in
            let seeded = try await Self.seed(fixture)
            let expected = seeded.byType["ocr", default: []].intersection(seeded.byQueue["fast", default: []])
            #expect(!expected.isEmpty)
            #expect(try await Self.listed(fixture, .init(types: ["ocr"], queues: ["fast"])) == expected)
        }
    }

    @Test func createdRangeIncludesItsStartAndExcludesItsEnd() async throws {
        try await withJobKitFixture("listing") { fixture in
            let days = (1...4).map { Date(timeIntervalSince1970: 1_704_067_200 + Double($0) * 86_400) }
            var ids: [UUID] = []
            for day in days {
                let job = try await fixture.jobs.create("dated")
                try await fixture.pool.query("UPDATE jobkit.jobs SET created_at = \(day) WHERE id = \(job.id)")
                ids.append(job.id)
            }

            #expect(try await Self.listed(fixture, .init(createdAfter: days[1])) == Set(ids[1...]))
            #expect(try await Self.listed(fixture, .init(createdBefore: days[2])) == Set(ids[..<2]))
            #expect(try await Self.listed(fixture, .init(createdAfter: days[1], createdBefore: days[3])) == Set(ids[1..<3]))
        }
    }

    @Test func filteredListingPagesWithoutGapsOrDuplicates() async throws {
        try await withJobKitFixture("listing") { fixture in
            let seeded = try await Self.seed(fixture)
            let filter = JobFilter(types: ["thumbnail"])
            var listed: [UUID] = []
            var cursor: UUID?
            var pages = 0
            repeat {
                let page = try await fixture.jobs.list(filter, limit: 3, after: cursor)
                listed += page.jobs.map(\.id)
                cursor = page.nextCursor
                pages += 1
            } while cursor != nil && pages < 100

            #expect(listed.count == seeded.byType["thumbnail"]?.count)
            #expect(Set(listed) == seeded.byType["thumbnail"])
            #expect(pages == 4, "10 jobs in pages of 3, 3, 3, 1")
        }
    }
}
