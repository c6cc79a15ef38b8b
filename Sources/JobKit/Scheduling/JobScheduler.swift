import Foundation
import LibPQ
import Logging
import ServiceLifecycle
import Synchronization

/// Enqueues the jobs of periodic schedules: exactly one job per tick, across all processes.
///
/// Every process may run one with the schedules it knows; each registers them (see
/// ``JobService/registerSchedules(_:at:)``) in the `schedules` table when it starts. One
/// process at a time leads (a PostgreSQL advisory lock held by a connection of its own, as
/// ``MaintenanceService`` does, under a lock of its own): it sleeps until the earliest next
/// tick of *all* registered schedules, enqueues the due ticks' jobs and moves each schedule
/// forward, so ticks are enqueued on time (within milliseconds of the tick), not at the
/// maintenance interval.
///
/// Exactly once does not rest on the election. Each tick's job is written in the statement
/// that moves its schedule's `next_tick_at` forward, and only if the row still holds the tick
/// the scheduler read (a compare-and-set): two schedulers that both believe they lead cannot
/// both enqueue a tick. The job's unique key, `schedule:<name>:<tick>`, through the jobs'
/// unique index, is a second guard.
///
/// Ticks that are late by less than ``Configuration/missedTickThreshold`` (a leader took over,
/// the database was slow) are enqueued late; older ones were missed, and each schedule's
/// ``JobSchedule/MissedTickPolicy`` decides.
///
/// ```swift
/// let schedules = [try JobSchedule("nightly-report", SendReport.self, payload: .init(), cron: "0 3 * * *",
///                                  timeZone: TimeZone(identifier: "Europe/Berlin")!)]
/// let scheduler = JobScheduler(service: jobs, schedules: schedules)
/// let group = ServiceGroup(services: [jobs, executor, scheduler], gracefulShutdownSignals: [.sigterm], logger: logger)
/// try await group.run()
/// ```
///
/// > Warning: It works only while ``run()`` runs; ``runOnce(at:)`` does one pass on demand.
public final class JobScheduler: Service, Sendable {
    /// How the scheduler elects its leader, and how late a tick may be.
    public struct Configuration: Sendable {
        /// How late a tick may be enqueued before it counts as missed, when the schedule's
        /// policy applies. Defaults to 1 minute; at least 1 second.
        public var missedTickThreshold: Duration
        /// How often the leader re-reads the earliest next tick when none is due sooner (this is
        /// how it learns of schedules other processes register), and how often a process that
        /// does not lead tries to. Defaults to 5 seconds.
        public var pollInterval: Duration
        /// Whether one process at a time enqueues (elected by an advisory lock). Defaults to
        /// `true`. With `false` this scheduler enqueues whether or not another one does: ticks
        /// are still enqueued once, but every process pays for the reads.
        public var electsLeader: Bool
        /// Schedules read and moved forward per statement. Defaults to 500.
        public var batchSize: Int

        /// Creates a configuration; every parameter has a default.
        public init(
            missedTickThreshold: Duration = .seconds(60),
            pollInterval: Duration = .seconds(5),
            electsLeader: Bool = true,
            batchSize: Int = 500
        ) {
            precondition(missedTickThreshold >= .seconds(1), "missedTickThreshold must be at least 1 second")
            precondition(pollInterval > .zero, "pollInterval must be positive")
            precondition(batchSize >= 1, "batchSize must be at least 1")
            self.missedTickThreshold = missedTickThreshold
            self.pollInterval = pollInterval
            self.electsLeader = electsLeader
            self.batchSize = batchSize
        }
    }

    /// The job service whose database it enqueues into.
    public let service: JobService
    /// The schedules this process registers when the scheduler starts.
    public let schedules: [JobSchedule]
    /// Its settings.
    public let configuration: Configuration
    private let logger: Logger
    private let leading = Mutex(false)

    /// Creates a scheduler.
    /// - Parameters:
    ///   - service: The job service (database, schema, worker id).
    ///   - schedules: The schedules to register at start; their names must differ. A scheduler
    ///     with none still enqueues the schedules other processes registered when it leads.
    ///   - configuration: Threshold, poll interval, election.
    ///   - logger: Receives `debug` entries for leadership and enqueued ticks, `info` for
    ///     skipped ticks and failures.
    public init(
        service: JobService,
        schedules: [JobSchedule] = [],
        configuration: Configuration = .init(),
        logger: Logger = JobKitLogging.noop
    ) {
        precondition(Set(schedules.map(\.name)).count == schedules.count, "two schedules have the same name")
        self.service = service
        self.schedules = schedules
        self.configuration = configuration
        self.logger = logger
    }

    /// Whether this scheduler enqueues ticks now (it leads, or does not elect a leader).
    public var isLeader: Bool { self.leading.withLock { $0 } }

    // MARK: - Service

    /// Registers the schedules, then competes for leadership and, while leading, enqueues
    /// ticks as they come, until cancelled or gracefully shut down.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            defer { self.leading.withLock { $0 = false } }
            await self.registerUntilDone()
            guard !Task.isCancelled else { return }
            guard self.configuration.electsLeader else {
                self.leading.withLock { $0 = true }
                try? await self.tick(checking: nil)
                return
            }
            let lockKey = "\(self.service.configuration.schema).scheduler"
            while !Task.isCancelled {
                do {
                    try await self.leadWhilePossible(lockKey: lockKey)
                } catch where !Task.isCancelled {
                    self.logger.info("Scheduler leadership lost", metadata: ["jobkit.error": "\(error)"])
                } catch {
                    break
                }
                self.leading.withLock { $0 = false }
                try? await Task.sleep(for: self.configuration.pollInterval)
            }
        }
    }

    /// Registers the schedules, retrying while the database is unreachable.
    private func registerUntilDone() async {
        guard !self.schedules.isEmpty else { return }
        while !Task.isCancelled {
            do {
                try await self.service.registerSchedules(self.schedules)
                return
            } catch {
                self.logger.info("Registering schedules failed; retrying", metadata: ["jobkit.error": "\(error)"])
                try? await Task.sleep(for: self.configuration.pollInterval)
            }
        }
    }

    /// Takes the lock on a connection of its own; while it holds it, enqueues ticks.
    private func leadWhilePossible(lockKey: String) async throws {
        let connection = try await PostgresConnection.connect(to: self.service.pool.connectionConfiguration, logger: self.logger)
        do {
            let acquired = try await connection.query("SELECT pg_try_advisory_lock(hashtext(\(lockKey)))").first?.decode(Bool.self, at: 0) ?? false
            guard acquired else {
                await connection.close()
                return
            }
            self.leading.withLock { $0 = true }
            self.logger.debug("Leading the scheduler")
            try await self.tick(checking: connection)
            await connection.close()
        } catch {
            await connection.close()
            throw error
        }
    }

    /// Enqueues due ticks and sleeps until the next one, until cancelled. With `lock`, checks
    /// every poll interval that the lock's connection still lives (the lock dies with it).
    private func tick(checking lock: PostgresConnection?) async throws {
        var lastCheck = ContinuousClock.now
        var failures = 0
        while !Task.isCancelled {
            var wait = self.configuration.pollInterval
            do {
                let report = try await self.runOnce(at: Date())
                failures = 0
                if report.mayHaveMore { continue }
                if let next = report.nextTickAt {
                    // A few milliseconds past the tick, so the clock has surely reached it.
                    let untilTick = Duration.milliseconds(Int64((next.timeIntervalSinceNow * 1000).rounded(.up)) + 2)
                    wait = max(.zero, min(wait, untilTick))
                }
            } catch where !Task.isCancelled {
                failures += 1
                self.logger.info("Enqueueing schedule ticks failed; retrying", metadata: ["jobkit.error": "\(error)"])
                wait = min(wait, .milliseconds(100 * (1 << min(failures, 5))))
            }
            try await Task.sleep(for: wait)
            if let lock, ContinuousClock.now - lastCheck >= self.configuration.pollInterval {
                // The lock lives with the session: a broken connection means another may lead now.
                try await lock.query("SELECT 1")
                lastCheck = ContinuousClock.now
            }
        }
    }

    // MARK: - One pass

    /// Enqueues the ticks of every registered schedule that are due at `now`, and moves each
    /// schedule forward; safe beside a running leader (a tick is enqueued once whoever races).
    /// - Parameter now: The time to plan for. Defaults to now; tests pin it.
    /// - Returns: What it did, and when the next tick is.
    /// - Throws: ``PostgresError``; a pass that throws has changed nothing or whole schedules.
    @discardableResult
    public func runOnce(at now: Date = Date()) async throws -> SchedulerReport {
        let started = ContinuousClock.now
        var report = SchedulerReport(now: now)
        let (due, later) = try await self.service.store.dueSchedules(at: now, limit: self.configuration.batchSize)
        var earliest = later
        var advances: [JobStore.Advance] = []
        for schedule in due {
            let definition: (timing: JobSchedule.Timing, timeZone: TimeZone, policy: JobSchedule.MissedTickPolicy)
            do {
                definition = try Self.definition(of: schedule)
            } catch {
                report.unreadable[schedule.name] = error.description
                continue
            }
            let plan = TickPlan.plan(
                timing: definition.timing, timeZone: definition.timeZone, policy: definition.policy, pending: schedule.nextTickAt,
                now: now, missedAfter: self.configuration.missedTickThreshold)
            advances.append(JobStore.Advance(
                name: schedule.name, revision: schedule.revision, expectedNext: schedule.nextTickAt, newNext: plan.next, ticks: plan.ticks))
            if let skipped = plan.skipped {
                report.skipped.append(.init(name: schedule.name, from: skipped.lowerBound, until: skipped.upperBound))
            }
        }
        let (advanced, enqueued) = try await self.service.store.advanceSchedules(advances)
        report.enqueued = enqueued
        report.advanced = advanced.count
        report.lostRaces = advances.count - advanced.count
        for advance in advances where advanced.contains(advance.name) {
            if let next = advance.newNext { earliest = min(earliest ?? next, next) }
        }
        report.nextTickAt = earliest
        report.mayHaveMore = (due.count == self.configuration.batchSize && !advanced.isEmpty) || report.lostRaces > 0
        report.durationMilliseconds = Double((ContinuousClock.now - started).milliseconds)
        self.log(report, skippedOnly: advanced)
        return report
    }

    private func log(_ report: SchedulerReport, skippedOnly advanced: Set<String>) {
        if report.enqueued > 0 {
            self.logger.debug("Schedule ticks enqueued", metadata: [
                "jobkit.schedules.advanced": "\(report.advanced)", "jobkit.jobs.count": "\(report.enqueued)",
            ])
        }
        for skip in report.skipped where advanced.contains(skip.name) {
            self.logger.info("Missed schedule ticks skipped", metadata: [
                "jobkit.schedule.name": "\(skip.name)", "jobkit.schedule.skipped_from": "\(skip.from)",
                "jobkit.schedule.skipped_until": "\(skip.until)",
            ])
        }
        for (name, reason) in report.unreadable.sorted(by: { $0.key < $1.key }) {
            self.logger.info("Schedule definition unreadable here; left as it is", metadata: [
                "jobkit.schedule.name": "\(name)", "jobkit.error": "\(reason)",
            ])
        }
    }

    /// A stored definition as a timing, time zone and policy.
    static func definition(
        of schedule: JobStore.DueSchedule
    ) throws(ScheduleError) -> (timing: JobSchedule.Timing, timeZone: TimeZone, policy: JobSchedule.MissedTickPolicy) {
        guard let timeZone = TimeZone(identifier: schedule.timeZone) else { throw .invalidTimeZone(schedule.timeZone) }
        let timing: JobSchedule.Timing
        switch schedule.kind {
        case "cron":
            timing = .cron(try CronExpression(schedule.expression))
        case "interval":
            guard let seconds = schedule.intervalSeconds, seconds >= 1 else {
                throw .invalidSchedule("the stored interval is missing", name: schedule.name)
            }
            timing = .every(.seconds(seconds))
        default:
            throw .invalidSchedule("unknown kind \(schedule.kind)", name: schedule.name)
        }
        let policy: JobSchedule.MissedTickPolicy =
            schedule.missedTicks == "backfill" ? .backfill(limit: max(1, schedule.backfillLimit ?? 1)) : .skip
        return (timing, timeZone, policy)
    }
}
