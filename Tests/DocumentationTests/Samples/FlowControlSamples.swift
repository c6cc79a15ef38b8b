// The code of Documentation/FlowControl.md (see GettingStartedSamples.swift for how it is checked).
import Foundation
import JobKit

// MARK: Snooze

struct PollExport: JobHandler {
    struct Payload: Codable, Sendable { var exportID: Int }
    static let type = "poll-export"

    func run(_ payload: Payload, context: JobContext) async throws -> EmptyPayload {
        guard try await exportIsReady(payload.exportID) else {
            try context.snooze(for: .seconds(30))
        }
        return EmptyPayload()
    }
}

// MARK: Unique jobs

struct SyncAccount: JobHandler {
    struct Payload: Codable, Sendable { var accountID: Int; var reason: String }
    static let type = "sync-account"
    func run(_ payload: Payload, context: JobContext) async throws -> EmptyPayload { EmptyPayload() }
}

struct SendDigest: JobHandler {
    struct Payload: Codable, Sendable { var userID: Int }
    static let type = "send-digest"
    func run(_ payload: Payload, context: JobContext) async throws -> EmptyPayload { EmptyPayload() }
}

func enqueueSync(_ jobs: JobService, accountID: Int) async throws -> UUID {
    // At most one waiting or running sync per account: a second call returns the first job's id.
    try await jobs.enqueue(SyncAccount.self, .init(accountID: accountID, reason: "webhook"),
        options: .init(unique: .init(fields: [.payload], payloadKeys: ["accountID"])))
}

func rescheduleDigest(_ jobs: JobService, userID: Int, at time: Date) async throws {
    // One pending digest per user per day; a later call moves it.
    try await jobs.enqueue(SendDigest.self, .init(userID: userID),
        options: .init(runAt: time, unique: .init(period: .seconds(86_400), onConflict: .replace)))
}

// MARK: Pause and limits

func pauseReportsDuringTheMigration(_ jobs: JobService) async throws {
    try await jobs.pauseQueue("reports")
    // ... the migration ...
    try await jobs.resumeQueue("reports")
}

struct ExportCustomer: JobHandler {
    struct Payload: Codable, Sendable { var customerID: Int }
    static let type = "export-customer"
    func run(_ payload: Payload, context: JobContext) async throws -> EmptyPayload { EmptyPayload() }
}

func limitExports(_ jobs: JobService) async throws {
    // At most 20 exports at once in the whole fleet, 2 per customer, 600 started per minute.
    try await jobs.configureQueue("exports", QueueSettings(
        concurrencyLimit: 20, keyLimit: 2, rateLimit: .init(600, per: .seconds(60))))
}

func enqueueExport(_ jobs: JobService, customerID: Int) async throws {
    try await jobs.enqueue(ExportCustomer.self, .init(customerID: customerID),
        options: .init(queue: "exports", concurrencyKey: "customer-\(customerID)"))
}

/// Stands in for a partner API.
func exportIsReady(_ exportID: Int) async throws -> Bool { exportID.isMultiple(of: 2) }
