import Foundation
import JobKit
import LibPQ

#if canImport(Testing)
import Testing
#endif

/// A job found by ``JobService/enqueuedJobs(of:payload:queue:statuses:where:)``, with its payload decoded.
public struct EnqueuedJob<Payload: Sendable>: Sendable {
    /// The job as stored.
    public var job: Job
    /// Its payload, decoded as the handler's type.
    public var payload: Payload
}

/// Which jobs an expectation about enqueued jobs looks at; every field narrows the match.
struct EnqueuedMatch<Handler: JobHandler> {
    var payload: Handler.Payload?
    var queue: String?
    var statuses: Set<JobStatus>
    var predicate: ((Handler.Payload) -> Bool)?

    /// `the job of type "x" in queue "q" with payload {…} in scheduled`, for messages.
    func describe() -> String {
        var text = "job of type \"\(Handler.type)\""
        if let queue { text += " in queue \"\(queue)\"" }
        if let payload { text += " with payload \(EnqueuedJSON.canonical(payload) ?? "?")" }
        if self.predicate != nil { text += " matching the predicate" }
        text += " (\(self.statuses.map(\.rawValue).sorted().joined(separator: " or ")))"
        return text
    }
}

extension JobService {
    // MARK: - Finding

    /// The jobs of a handler's type, oldest first, that match every condition given.
    ///
    /// ```swift
    /// let sent = try await jobs.enqueuedJobs(of: SendEmail.self) { $0.to == "a@example.com" }
    /// ```
    /// - Parameters:
    ///   - handler: The handler whose job type to look for.
    ///   - payload: When given, only jobs whose payload encodes to the same JSON (key order does
    ///     not matter; no `Equatable` needed).
    ///   - queue: When given, only jobs of this queue.
    ///   - statuses: Only jobs in these statuses. Defaults to `[.scheduled]`: enqueued and not yet
    ///     run (as Oban's `assert_enqueued` counts them); pass `Set(JobStatus.allCases)` for every job ever enqueued.
    ///   - predicate: When given, only jobs whose decoded payload it accepts.
    /// - Returns: The matching jobs with their decoded payloads, oldest first.
    /// - Throws: ``JobError/Code/payloadDecoding`` naming a job of the type whose payload does not
    ///   decode as the handler's `Payload`; ``PostgresError``.
    public nonisolated func enqueuedJobs<Handler: JobHandler>(
        of handler: Handler.Type,
        payload: Handler.Payload? = nil,
        queue: String? = nil,
        statuses: Set<JobStatus> = [.scheduled],
        where predicate: ((Handler.Payload) -> Bool)? = nil
    ) async throws -> [EnqueuedJob<Handler.Payload>] {
        try await self.matches(EnqueuedMatch<Handler>(payload: payload, queue: queue, statuses: statuses, predicate: predicate))
    }

    // MARK: - Assertions that throw (Swift Testing and XCTest)

    /// Requires that jobs of a handler's type matching every condition were enqueued, and returns them.
    ///
    /// ```swift
    /// try await signUp(email: "a@example.com")
    /// let welcome = try await jobs.requireEnqueued(SendEmail.self) { $0.to == "a@example.com" }
    /// ```
    /// - Parameters:
    ///   - handler: The handler whose job type to look for.
    ///   - payload: When given, only jobs whose payload encodes to the same JSON.
    ///   - queue: When given, only jobs of this queue.
    ///   - statuses: Only jobs in these statuses. Defaults to `[.scheduled]`.
    ///   - count: When given, exactly this many must match; else at least one.
    ///   - file: The caller's file, reported in the error.
    ///   - line: The caller's line, reported in the error.
    ///   - predicate: When given, only jobs whose decoded payload it accepts.
    /// - Returns: The matching jobs, oldest first (never empty).
    /// - Throws: ``JobTestingError`` `.notEnqueued` or `.wrongCount`, whose message lists what
    ///   was enqueued instead; ``JobError/Code/payloadDecoding``; ``PostgresError``.
    @discardableResult
    public nonisolated func requireEnqueued<Handler: JobHandler>(
        _ handler: Handler.Type,
        payload: Handler.Payload? = nil,
        queue: String? = nil,
        statuses: Set<JobStatus> = [.scheduled],
        count: Int? = nil,
        file: String = #fileID,
        line: Int = #line,
        where predicate: ((Handler.Payload) -> Bool)? = nil
    ) async throws -> [EnqueuedJob<Handler.Payload>] {
        let match = EnqueuedMatch<Handler>(payload: payload, queue: queue, statuses: statuses, predicate: predicate)
        let found = try await self.matches(match)
        if let failure = try await self.failure(expecting: count.map { .exactly($0) } ?? .some, match: match, found: found, file: file, line: line) {
            throw failure
        }
        return found
    }

    /// Requires that no job of a handler's type matching every condition was enqueued.
    /// - Parameters: As for ``requireEnqueued(_:payload:queue:statuses:count:file:line:where:)``, without `count`.
    /// - Throws: ``JobTestingError/Code/unexpectedlyEnqueued`` listing the jobs that matched;
    ///   ``JobError/Code/payloadDecoding``; ``PostgresError``.
    public nonisolated func requireNotEnqueued<Handler: JobHandler>(
        _ handler: Handler.Type,
        payload: Handler.Payload? = nil,
        queue: String? = nil,
        statuses: Set<JobStatus> = [.scheduled],
        file: String = #fileID,
        line: Int = #line,
        where predicate: ((Handler.Payload) -> Bool)? = nil
    ) async throws {
        let match = EnqueuedMatch<Handler>(payload: payload, queue: queue, statuses: statuses, predicate: predicate)
        let found = try await self.matches(match)
        if let failure = try await self.failure(expecting: .none, match: match, found: found, file: file, line: line) {
            throw failure
        }
    }

    // MARK: - Assertions that record an issue (Swift Testing)

    #if canImport(Testing)
    /// Expects that jobs of a handler's type matching every condition were enqueued: when none
    /// (or not `count`) match, records a Swift Testing issue at the caller, listing what was
    /// enqueued instead, and the test goes on.
    ///
    /// ```swift
    /// try await jobs.expectEnqueued(SendEmail.self, payload: .init(to: "a@example.com", subject: "Welcome"))
    /// ```
    ///
    /// > Warning: Outside a Swift Testing test (under XCTest) the issue goes nowhere: use
    /// > ``requireEnqueued(_:payload:queue:statuses:count:file:line:where:)`` there.
    /// - Parameters:
    ///   - handler: The handler whose job type to look for.
    ///   - payload: When given, only jobs whose payload encodes to the same JSON.
    ///   - queue: When given, only jobs of this queue.
    ///   - statuses: Only jobs in these statuses. Defaults to `[.scheduled]`.
    ///   - count: When given, exactly this many must match; else at least one.
    ///   - sourceLocation: Where the issue is reported; the caller's line by default.
    ///   - predicate: When given, only jobs whose decoded payload it accepts.
    /// - Returns: The matching jobs, oldest first (empty when the expectation failed).
    /// - Throws: ``JobError/Code/payloadDecoding``; ``PostgresError`` (not for a failed expectation).
    @discardableResult
    public nonisolated func expectEnqueued<Handler: JobHandler>(
        _ handler: Handler.Type,
        payload: Handler.Payload? = nil,
        queue: String? = nil,
        statuses: Set<JobStatus> = [.scheduled],
        count: Int? = nil,
        sourceLocation: SourceLocation = #_sourceLocation,
        where predicate: ((Handler.Payload) -> Bool)? = nil
    ) async throws -> [EnqueuedJob<Handler.Payload>] {
        let match = EnqueuedMatch<Handler>(payload: payload, queue: queue, statuses: statuses, predicate: predicate)
        let found = try await self.matches(match)
        let expected: Expected = count.map { .exactly($0) } ?? .some
        if let failure = try await self.failure(
            expecting: expected, match: match, found: found, file: sourceLocation.fileID, line: sourceLocation.line)
        {
            Issue.record(Comment(rawValue: failure.message), sourceLocation: sourceLocation)
            return []
        }
        return found
    }

    /// Expects that no job of a handler's type matching every condition was enqueued: when some
    /// match, records a Swift Testing issue at the caller listing them, and the test goes on.
    ///
    /// > Warning: Outside a Swift Testing test the issue goes nowhere: use
    /// > ``requireNotEnqueued(_:payload:queue:statuses:file:line:where:)`` there.
    /// - Parameters: As for ``expectEnqueued(_:payload:queue:statuses:count:sourceLocation:where:)``, without `count`.
    /// - Returns: Whether the expectation held.
    /// - Throws: ``JobError/Code/payloadDecoding``; ``PostgresError`` (not for a failed expectation).
    @discardableResult
    public nonisolated func expectNotEnqueued<Handler: JobHandler>(
        _ handler: Handler.Type,
        payload: Handler.Payload? = nil,
        queue: String? = nil,
        statuses: Set<JobStatus> = [.scheduled],
        sourceLocation: SourceLocation = #_sourceLocation,
        where predicate: ((Handler.Payload) -> Bool)? = nil
    ) async throws -> Bool {
        let match = EnqueuedMatch<Handler>(payload: payload, queue: queue, statuses: statuses, predicate: predicate)
        let found = try await self.matches(match)
        if let failure = try await self.failure(
            expecting: .none, match: match, found: found, file: sourceLocation.fileID, line: sourceLocation.line)
        {
            Issue.record(Comment(rawValue: failure.message), sourceLocation: sourceLocation)
            return false
        }
        return true
    }
    #endif

    // MARK: - Internals

    /// How many matches an expectation wants.
    enum Expected {
        case some
        case none
        case exactly(Int)
    }

    /// Every job of the type in the statuses and queue, oldest first, then filtered by payload and predicate.
    nonisolated func matches<Handler: JobHandler>(_ match: EnqueuedMatch<Handler>) async throws -> [EnqueuedJob<Handler.Payload>] {
        let candidates = try await self.allJobs(
            JobFilter(statuses: match.statuses.sorted { $0.rawValue < $1.rawValue }, types: [Handler.type], queues: match.queue.map { [$0] }))
        let expectedJSON = match.payload.flatMap { EnqueuedJSON.canonical($0) }
        var found: [EnqueuedJob<Handler.Payload>] = []
        for job in candidates {
            let payload = try job.payload(as: Handler.Payload.self)
            if let expectedJSON, EnqueuedJSON.canonical(payload) != expectedJSON { continue }
            if let predicate = match.predicate, !predicate(payload) { continue }
            found.append(EnqueuedJob(job: job, payload: payload))
        }
        return found
    }

    /// The error for an expectation that failed, with what the database holds; `nil` when it held.
    nonisolated func failure<Handler: JobHandler>(
        expecting expected: Expected,
        match: EnqueuedMatch<Handler>,
        found: [EnqueuedJob<Handler.Payload>],
        file: String,
        line: Int
    ) async throws -> JobTestingError? {
        switch expected {
        case .some where !found.isEmpty, .none where found.isEmpty:
            return nil
        case .exactly(let count) where found.count == count:
            return nil
        case .some:
            let enqueued = try await self.allJobs(JobFilter(statuses: match.statuses.sorted { $0.rawValue < $1.rawValue }), limit: 50)
            return JobTestingError(
                .notEnqueued,
                message: "expected a \(match.describe()), found none; \(Self.listing(enqueued, statuses: match.statuses))",
                file: file, line: line)
        case .exactly(let count):
            let enqueued = try await self.allJobs(JobFilter(statuses: match.statuses.sorted { $0.rawValue < $1.rawValue }), limit: 50)
            return JobTestingError(
                .wrongCount,
                message: "expected \(count) of \(match.describe()), found \(found.count); \(Self.listing(enqueued, statuses: match.statuses))",
                jobs: found.map(\.job), file: file, line: line)
        case .none:
            return JobTestingError(
                .unexpectedlyEnqueued,
                message: "expected no \(match.describe()), found \(found.count): \(Self.lines(found.map(\.job)))",
                jobs: found.map(\.job), file: file, line: line)
        }
    }

    /// Jobs matching `filter`, oldest first, at most `limit` (the newest ones when there are more).
    private nonisolated func allJobs(_ filter: JobFilter, limit: Int = 10_000) async throws -> [Job] {
        var jobs: [Job] = []
        var cursor: UUID?
        repeat {
            let page = try await self.list(filter, limit: min(1000, limit - jobs.count), after: cursor)
            jobs += page.jobs
            cursor = page.nextCursor
        } while cursor != nil && jobs.count < limit
        return jobs.reversed()
    }

    /// `what was enqueued (in scheduled): 2 jobs: …`, or that nothing was.
    static func listing(_ jobs: [Job], statuses: Set<JobStatus>) -> String {
        let scope = "(\(statuses.map(\.rawValue).sorted().joined(separator: " or ")))"
        guard !jobs.isEmpty else { return "no job at all was enqueued \(scope)" }
        let more = jobs.count >= 50 ? " (the latest 50)" : ""
        return "enqueued \(scope)\(more): \(self.lines(jobs))"
    }

    /// One line per job: `"type" in queue "q" [status]: {payload}`.
    static func lines(_ jobs: [Job]) -> String {
        jobs.map { "\n  - \"\($0.type)\" in queue \"\($0.queue)\" [\($0.status.rawValue)]: \($0.payloadJSON)" }.joined()
    }
}

/// JSON of payloads, compared as text after encoding with sorted keys.
enum EnqueuedJSON {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    /// The payload's JSON with sorted keys, or `nil` when it does not encode.
    static func canonical(_ value: some Encodable) -> String? {
        (try? self.encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) }
    }
}
