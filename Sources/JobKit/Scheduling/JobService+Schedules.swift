import Foundation

extension JobService {
    /// Registers periodic schedules, or updates their definitions, in the `schedules` table.
    ///
    /// Any process may register any schedule: the ``JobScheduler`` that leads enqueues the
    /// ticks of every registered schedule, whichever process registered it. Registering an
    /// unchanged definition changes nothing (ten processes starting at once do no harm); a
    /// changed payload or option takes effect from the next tick; a changed timing or time
    /// zone starts again from the first tick after `now`. A ``JobScheduler`` registers its
    /// schedules when it starts.
    /// - Parameters:
    ///   - schedules: The schedules; their names must differ.
    ///   - now: The time the first ticks of new schedules follow. Defaults to now.
    /// - Throws: ``ScheduleError/Code/invalidSchedule`` for two schedules of one name (before any
    ///   SQL runs); ``PostgresError``.
    public nonisolated func registerSchedules(_ schedules: [JobSchedule], at now: Date = Date()) async throws {
        var names: Set<String> = []
        var nextTicks: [String: Date] = [:]
        for schedule in schedules {
            guard names.insert(schedule.name).inserted else {
                throw ScheduleError.invalidSchedule("two schedules have this name", name: schedule.name)
            }
            try schedule.validate()
            nextTicks[schedule.name] = schedule.timing.nextTick(after: now, in: schedule.timeZone)
        }
        let changed = try await self.store.registerSchedules(schedules, nextTicks: nextTicks, registeredBy: self.configuration.workerID)
        if changed > 0 {
            self.logger.debug("Schedules registered", metadata: ["jobkit.schedules.changed": "\(changed)"])
        }
    }

    /// Every registered schedule, by name, with its next tick and the last tick it enqueued.
    /// - Returns: The schedules.
    /// - Throws: ``PostgresError``.
    public nonisolated func schedules() async throws -> [RegisteredSchedule] {
        try await self.store.schedules()
    }

    /// Removes a schedule, so that no scheduler enqueues its ticks any more; the jobs it
    /// enqueued stay. A process that registers it again brings it back.
    /// - Parameter name: The schedule's name.
    /// - Throws: ``ScheduleError/Code/notFound``; ``PostgresError``.
    public nonisolated func removeSchedule(named name: String) async throws {
        guard try await self.store.removeSchedule(named: name) else { throw ScheduleError.notFound(name) }
    }
}
