import Foundation
import LibPQ
import Logging
import ServiceLifecycle

/// Keeps the jobs table healthy: recovers stuck jobs, fails jobs past their timeout, validates
/// rows, and deletes old finished jobs in bounded batches.
///
/// Any number of processes may run one; a PostgreSQL advisory lock, held by a connection of the
/// leader's own, elects one at a time. When the leader dies its connection closes, the lock is
/// released, and another process leads from its next attempt on.
///
/// > Warning: It works only while ``run()`` runs; ``runOnce()`` runs the steps on demand.
public final class MaintenanceService: Service, Sendable {
    /// How often and how hard maintenance works.
    public struct Configuration: Sendable {
        /// The time between runs. Defaults to 1 minute; never less than ``minimumInterval``.
        public var interval: Duration
        /// The shortest allowed interval. Defaults to 1 second.
        public var minimumInterval: Duration
        /// How long finished jobs are kept, per status; a status not listed is kept forever.
        /// Defaults to 7 days for done and cancelled, 30 days for failed.
        public var retention: [JobStatus: Duration]
        /// Rows per `DELETE` and per recovery statement. Defaults to 1,000.
        public var batchSize: Int
        /// Whether validation fixes what it can fix unambiguously. Defaults to `true`.
        public var fixesValidationIssues: Bool

        /// Creates a configuration; every parameter has a default.
        /// - Parameters:
        ///   - interval: The time between runs; raised to `minimumInterval` if shorter. Defaults to 1 minute.
        ///   - minimumInterval: The shortest allowed interval; positive. Defaults to 1 second.
        ///   - retention: How long finished jobs are kept, per finished status. Defaults to 7 days for done and
        ///     cancelled, 30 days for failed.
        ///   - batchSize: Rows per `DELETE` and per recovery statement; at least 1. Defaults to 1,000.
        ///   - fixesValidationIssues: Whether validation fixes what it can fix unambiguously. Defaults to `true`.
        public init(
            interval: Duration = .seconds(60),
            minimumInterval: Duration = .seconds(1),
            retention: [JobStatus: Duration] = [.done: .seconds(7 * 86_400), .cancelled: .seconds(7 * 86_400), .failed: .seconds(30 * 86_400)],
            batchSize: Int = 1000,
            fixesValidationIssues: Bool = true
        ) {
            precondition(minimumInterval > .zero, "minimumInterval must be positive")
            precondition(batchSize >= 1, "batchSize must be at least 1")
            precondition(retention.keys.allSatisfy(\.isFinished), "only finished statuses have a retention")
            self.interval = max(interval, minimumInterval)
            self.minimumInterval = minimumInterval
            self.retention = retention
            self.batchSize = batchSize
            self.fixesValidationIssues = fixesValidationIssues
        }
    }

    /// The job service it maintains.
    public let service: JobService
    /// Its settings.
    public let configuration: Configuration
    private let logger: Logger
    private let leadership = LeaderFlag()

    /// Creates a maintenance service.
    /// - Parameters:
    ///   - service: The job service (database and schema).
    ///   - configuration: Interval, retention, policies.
    ///   - logger: Receives each non-empty report at `debug`, failures at `info`.
    public init(service: JobService, configuration: Configuration = .init(), logger: Logger = JobKitLogging.noop) {
        self.service = service
        self.configuration = configuration
        self.logger = logger
    }

    /// Whether this process leads maintenance now.
    public var isLeader: Bool { self.leadership.value }

    /// Competes for leadership and, while leading, runs maintenance every interval, until
    /// cancelled or gracefully shut down.
    /// - Throws: Nothing in practice: losing leadership or a failed run is logged, and the service
    ///   competes again.
    public func run() async throws {
        let lockKey = "\(self.service.configuration.schema).maintenance"
        await cancelWhenGracefulShutdown {
            defer { self.leadership.set(false) }
            while !Task.isCancelled {
                do {
                    try await self.leadWhilePossible(lockKey: lockKey)
                } catch where !Task.isCancelled {
                    self.logger.info("Maintenance leadership lost", metadata: ["jobkit.error": "\(error)"])
                } catch {
                    break
                }
                self.leadership.set(false)
                try? await Task.sleep(for: min(self.configuration.interval, .seconds(5)))
            }
        }
    }

    /// Takes the lock on a connection of its own; while it holds it, runs maintenance.
    private func leadWhilePossible(lockKey: String) async throws {
        let connection = try await PostgresConnection.connect(to: self.service.pool.connectionConfiguration, logger: self.logger)
        do {
            let acquired = try await connection.query("SELECT pg_try_advisory_lock(hashtext(\(lockKey)))").first?.decode(Bool.self, at: 0) ?? false
            guard acquired else {
                await connection.close()
                return
            }
            self.leadership.set(true)
            self.logger.debug("Leading maintenance")
            while !Task.isCancelled {
                _ = try await self.runOnce()
                try await Task.sleep(for: self.configuration.interval)
                // The lock lives with the session: a broken connection means another may lead now.
                try await connection.query("SELECT 1")
            }
            await connection.close()
        } catch {
            await connection.close()
            throw error
        }
    }

    /// Runs every maintenance step once and records the report; safe beside a running leader
    /// (each step skips rows others hold).
    /// - Returns: What it did.
    /// - Throws: Only `CancellationError`; each step's failure is in the report's `errors`.
    @discardableResult
    public func runOnce() async throws -> MaintenanceReport {
        let started = Date()
        let clock = ContinuousClock.now
        let store = self.service.store
        var report = MaintenanceReport(
            startedAt: started, durationMilliseconds: 0, recovery: RecoveryReport(), validationIssues: [], fixed: 0, deleted: [:], errors: [])
        do {
            report.recovery = try await store.rescue(policies: self.service.configuration.stuckJobPolicies, limit: self.configuration.batchSize)
        } catch {
            report.errors.append("recover stuck jobs: \(error)")
        }
        do {
            report.recovery.timedOut = try await store.failTimedOut(limit: self.configuration.batchSize)
        } catch {
            report.errors.append("fail timed-out jobs: \(error)")
        }
        do {
            report.validationIssues = try await store.validate(nil, limit: self.configuration.batchSize)
            if self.configuration.fixesValidationIssues {
                report.fixed = try await store.fix(report.validationIssues, actor: "maintenance")
            }
        } catch {
            report.errors.append("validate: \(error)")
        }
        for (status, age) in self.configuration.retention.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            do {
                report.deleted[status.rawValue] = try await store.deleteFinished(olderThan: age, statuses: [status], batchSize: self.configuration.batchSize)
            } catch {
                report.errors.append("delete \(status) jobs: \(error)")
            }
        }
        do {
            try await store.rollUpCounts()
        } catch {
            report.errors.append("roll up job counts: \(error)")
        }
        try Task.checkCancellation()
        report.durationMilliseconds = Double((ContinuousClock.now - clock).milliseconds)
        do {
            try await store.recordMaintenanceRun(report, leader: self.service.configuration.workerID)
        } catch {
            self.logger.info("Recording the maintenance run failed", metadata: ["jobkit.error": "\(error)"])
        }
        if !report.errors.isEmpty {
            self.logger.info("Maintenance run had failures", metadata: ["jobkit.maintenance.errors": "\(report.errors)"])
        } else if !report.isEmpty {
            self.logger.debug("Maintenance run", metadata: [
                "jobkit.maintenance.rescheduled": "\(report.recovery.rescheduled)",
                "jobkit.maintenance.failed": "\(report.recovery.failed)",
                "jobkit.maintenance.timed_out": "\(report.recovery.timedOut)",
                "jobkit.maintenance.fixed": "\(report.fixed)",
                "jobkit.maintenance.deleted": "\(report.deleted)",
            ])
        }
        return report
    }
}

/// A flag read from any thread.
private final class LeaderFlag: Sendable {
    private let storage = Mutex(false)
    var value: Bool { self.storage.withLock { $0 } }
    func set(_ value: Bool) { self.storage.withLock { $0 = value } }
}

import Synchronization
