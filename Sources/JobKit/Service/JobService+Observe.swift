import Foundation
import LibPQ
import Synchronization

/// A job's status and progress at one moment.
public struct JobUpdate: Sendable, Hashable, Decodable {
    /// The job.
    public var id: UUID
    /// Its status.
    public var status: JobStatus
    /// Its progress, 0–100.
    public var progress: Int
    /// Its last reported step.
    public var step: String?
    /// When the row changed (orders updates).
    public var at: Date

    private enum CodingKeys: String, CodingKey {
        case id, status, progress, step, at
    }

    /// Decodes a change notification's payload, whose `at` is seconds since 1970.
    /// - Parameter decoder: The decoder of the notification's JSON.
    /// - Throws: `DecodingError` when a field is missing or has the wrong type.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.id = try container.decode(UUID.self, forKey: .id)
        self.status = try container.decode(JobStatus.self, forKey: .status)
        self.progress = try container.decode(Int.self, forKey: .progress)
        self.step = try container.decodeIfPresent(String.self, forKey: .step)
        self.at = Date(timeIntervalSince1970: try container.decode(Double.self, forKey: .at))
    }

    init(_ job: Job) {
        self.id = job.id
        self.status = job.status
        self.progress = job.progress
        self.step = job.currentStep
        self.at = job.updatedAt
    }
}

extension JobService {
    /// The job's status and progress changes, from any process, until it finishes.
    ///
    /// The first element is the job's current state; each change follows as its notification
    /// arrives (the service must run for that), with a re-read every
    /// ``Configuration/pollInterval`` as the safety net. Jobs run by a ``JobExecutor`` change
    /// without notifications (they would cost the hot path dearly), so their updates arrive
    /// at that poll, as do all updates when ``Configuration/usesNotifications`` is `false`.
    /// The sequence ends after the update that
    /// shows the job done, failed or cancelled.
    /// - Parameter id: The job.
    /// - Returns: The updates, oldest first.
    public nonisolated func updates(of id: UUID) -> AsyncThrowingStream<JobUpdate, any Error> {
        let (stream, continuation) = AsyncThrowingStream<JobUpdate, any Error>.makeStream()
        // The stream's producer: cancelled when the consumer stops listening.
        let producer = Task {
            let gate = UpdateGate()
            /// Yields `update` if it is newer than the last one; returns whether the job has finished.
            let emit: @Sendable (JobUpdate) -> Bool = { update in
                guard gate.admits(update) else { return false }
                continuation.yield(update)
                return update.status.isFinished
            }
            let read: @Sendable () async throws -> Bool = {
                emit(JobUpdate(try await self.job(id)))
            }
            do {
                try await withThrowingTaskGroup(of: Bool.self) { group in
                    if self.configuration.usesNotifications { group.addTask {
                        for await event in self.listener.events(on: self.store.changesChannel) {
                            switch event {
                            case .listening:
                                if try await read() { return true }
                            case .notification(let notification):
                                guard let updates = try? PostgresJSONCoders.decoder.decode([JobUpdate].self, from: Data(notification.payload.utf8)) else {
                                    continue
                                }
                                for update in updates where update.id == id {
                                    if emit(update) { return true }
                                }
                            }
                        }
                        return false
                    } }
                    group.addTask {
                        if self.listener.backendPID != nil { try await Task.sleep(for: self.configuration.pollInterval) }
                        while true {
                            if try await read() { return true }
                            try await Task.sleep(for: self.configuration.pollInterval)
                        }
                    }
                    while let finished = try await group.next() {
                        if finished { break }
                    }
                    group.cancelAll()
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in producer.cancel() }
        return stream
    }

    /// Waits for a job, run by any process, to finish, and returns its result.
    /// - Parameters:
    ///   - id: The job.
    ///   - type: The result's type.
    /// - Returns: The decoded result.
    /// - Throws: ``JobError`` `.jobFailed` with the job's error, `.cancelled`, `.notFound`,
    ///   `.payloadDecoding`; ``PostgresError``; `CancellationError`.
    public nonisolated func result<Result: Decodable>(of id: UUID, as type: Result.Type) async throws -> Result {
        while true {
            for try await update in self.updates(of: id) where update.status.isFinished { break }
            try Task.checkCancellation()
            let job = try await self.job(id)
            switch job.status {
            case .done:
                guard let result = try job.result(as: type) else {
                    throw JobError.payloadDecoding(id: id, type: type, underlying: JobError.invalidArgument("the job has no result"))
                }
                return result
            case .failed:
                throw JobError.jobFailed(id: id, message: job.errorMessage)
            case .cancelled:
                throw JobError.cancelled(id: id)
            case .scheduled, .inProgress:
                continue  // retried in between: wait again
            }
        }
    }
}

/// Lets through only updates newer than the last one let through, so that a poll and a
/// notification of the same change yield it once, and an old notification never follows a newer read.
private final class UpdateGate: Sendable {
    private let last = Mutex<Date?>(nil)

    func admits(_ update: JobUpdate) -> Bool {
        self.last.withLock { last in
            // Half a microsecond: a notification's epoch seconds and a read row's timestamp
            // of the same change may differ in their last bit.
            guard last.map({ update.at.timeIntervalSince($0) > 0.000_000_5 }) ?? true else { return false }
            last = update.at
            return true
        }
    }
}
