import Foundation
import JobKit
import JobKitTesting
import Testing

/// Finding and asserting on enqueued jobs; a failing assertion says what was enqueued instead.
@Suite(.timeLimit(.minutes(3)))
struct EnqueuedTests {
    /// Code under test: signs a user up and enqueues a welcome e-mail and an avatar thumbnail.
    static func signUp(_ email: String, jobs: JobService) async throws {
        try await jobs.enqueue(SendEmail.self, .init(to: email, subject: "Welcome"))
        try await jobs.enqueue(Thumbnail.self, .init(image: "\(email).png"), options: .init(queue: "images"))
    }

    @Test func enqueuedJobsFilterByPayloadQueueStatusAndPredicate() async throws {
        try await withTestingService("enqueued") { jobs in
            try await Self.signUp("a@example.com", jobs: jobs)
            try await Self.signUp("b@example.com", jobs: jobs)

            #expect(try await jobs.enqueuedJobs(of: SendEmail.self).map(\.payload.to) == ["a@example.com", "b@example.com"])
            #expect(try await jobs.enqueuedJobs(of: SendEmail.self, payload: .init(to: "b@example.com", subject: "Welcome")).count == 1)
            #expect(try await jobs.enqueuedJobs(of: SendEmail.self, payload: .init(to: "b@example.com", subject: "Bye")).isEmpty)
            #expect(try await jobs.enqueuedJobs(of: SendEmail.self) { $0.to.hasPrefix("a") }.map(\.payload.to) == ["a@example.com"])
            #expect(try await jobs.enqueuedJobs(of: Thumbnail.self, queue: "images").count == 2)
            #expect(try await jobs.enqueuedJobs(of: Thumbnail.self, queue: "default").isEmpty)
            #expect(try await jobs.enqueuedJobs(of: SendEmail.self, statuses: [.done]).isEmpty)
        }
    }

    @Test func requireEnqueuedReturnsTheMatchingJobs() async throws {
        try await withTestingService("enqueued") { jobs in
            try await Self.signUp("a@example.com", jobs: jobs)
            let found = try await jobs.requireEnqueued(SendEmail.self, payload: .init(to: "a@example.com", subject: "Welcome"), count: 1)
            #expect(found.first?.job.queue == "default")
            #expect(found.first?.job.maxAttempts == SendEmail.retryPolicy.maxAttempts)
            try await jobs.requireNotEnqueued(SendEmail.self) { $0.to == "b@example.com" }
        }
    }

    @Test func requireEnqueuedFailsListingWhatWasEnqueuedInstead() async throws {
        try await withTestingService("enqueued") { jobs in
            try await Self.signUp("b@example.com", jobs: jobs)
            // Outside #expect, whose expansion would move the call's #line.
            var thrown: JobTestingError?
            let line = #line + 2
            do {
                try await jobs.requireEnqueued(SendEmail.self, payload: .init(to: "a@example.com", subject: "Welcome"))
            } catch let error as JobTestingError {
                thrown = error
            }
            let error = try #require(thrown)
            #expect(error.code == .notEnqueued)
            let message = error.description
            #expect(message.contains(#"expected a job of type "send-email" with payload {"subject":"Welcome","to":"a@example.com"}"#))
            #expect(message.contains(#""send-email" in queue "default" [scheduled]"#))
            #expect(message.contains("b@example.com"))
            #expect(message.contains(#""thumbnail" in queue "images" [scheduled]"#))
            #expect(error.line == line && error.file == #fileID)
        }
    }

    @Test func requireEnqueuedOnAnEmptyDatabaseSaysNothingWasEnqueued() async throws {
        try await withTestingService("enqueued") { jobs in
            let error = await #expect(throws: JobTestingError.self) {
                try await jobs.requireEnqueued(Thumbnail.self)
            }
            #expect(error?.code == .notEnqueued)
            #expect(error?.description.contains("no job at all was enqueued (scheduled)") == true)
        }
    }

    @Test func requireEnqueuedWithACountFailsOnAnyOtherNumber() async throws {
        try await withTestingService("enqueued") { jobs in
            try await Self.signUp("a@example.com", jobs: jobs)
            try await Self.signUp("a@example.com", jobs: jobs)
            let error = await #expect(throws: JobTestingError.self) {
                try await jobs.requireEnqueued(SendEmail.self, count: 1)
            }
            #expect(error?.code == .wrongCount)
            #expect(error?.description.contains("expected 1 of job of type \"send-email\" (scheduled), found 2") == true)
            #expect(error?.jobs.count == 2)
        }
    }

    @Test func requireNotEnqueuedFailsListingTheJobsThatMatched() async throws {
        try await withTestingService("enqueued") { jobs in
            try await Self.signUp("a@example.com", jobs: jobs)
            let error = await #expect(throws: JobTestingError.self) {
                try await jobs.requireNotEnqueued(Thumbnail.self)
            }
            #expect(error?.code == .unexpectedlyEnqueued)
            #expect(error?.description.contains("expected no job of type \"thumbnail\" (scheduled), found 1") == true)
            #expect(error?.description.contains("a@example.com.png") == true)
        }
    }

    @Test func malformedPayloadOfTheTypeIsReportedNotSkipped() async throws {
        try await withTestingService("enqueued") { jobs in
            let bad = try await jobs.create(SendEmail.type, payload: ["to": 42])
            let error = await #expect(throws: JobError.self) {
                try await jobs.enqueuedJobs(of: SendEmail.self)
            }
            #expect(error?.code == .payloadDecoding)
            #expect(error?.jobID == bad.id)
        }
    }

    @Test func finishedJobsCountOnlyWhenAskedFor() async throws {
        try await withTestingService("enqueued") { jobs in
            try await Self.signUp("a@example.com", jobs: jobs)
            _ = try await jobs.drain(handlers: [SendEmail(sent: Box([]))])
            try await jobs.requireNotEnqueued(SendEmail.self)
            try await jobs.requireEnqueued(SendEmail.self, statuses: Set(JobStatus.allCases), count: 1)
            try await jobs.requireEnqueued(SendEmail.self, statuses: [.done]) { $0.to == "a@example.com" }
        }
    }

    // MARK: - Swift Testing issues

    @Test func expectEnqueuedPassesQuietlyAndReturnsTheMatches() async throws {
        try await withTestingService("enqueued") { jobs in
            try await Self.signUp("a@example.com", jobs: jobs)
            let found = try await jobs.expectEnqueued(Thumbnail.self, queue: "images")
            #expect(found.map(\.payload.image) == ["a@example.com.png"])
            #expect(try await jobs.expectNotEnqueued(Thumbnail.self, queue: "default"))
        }
    }

    @Test func expectEnqueuedRecordsAnIssueListingWhatWasEnqueued() async throws {
        try await withTestingService("enqueued") { jobs in
            try await Self.signUp("b@example.com", jobs: jobs)
            let found = Box<Int>(-1)
            try await withKnownIssue {
                found.set(try await jobs.expectEnqueued(SendEmail.self) { $0.to == "a@example.com" }.count)
            } matching: { issue in
                let text = issue.comments.map(\.rawValue).joined()
                return text.contains("found none") && text.contains("b@example.com") && issue.sourceLocation?.fileID == #fileID
            }
            #expect(found.value == 0)
        }
    }

    @Test func expectNotEnqueuedRecordsAnIssueListingTheMatches() async throws {
        try await withTestingService("enqueued") { jobs in
            try await Self.signUp("a@example.com", jobs: jobs)
            try await withKnownIssue {
                try await jobs.expectNotEnqueued(SendEmail.self, payload: .init(to: "a@example.com", subject: "Welcome"))
            } matching: { issue in
                issue.comments.map(\.rawValue).joined().contains("expected no job of type \"send-email\"")
            }
        }
    }
}
