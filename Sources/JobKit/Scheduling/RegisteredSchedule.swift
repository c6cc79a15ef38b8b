import Foundation

/// A periodic schedule as stored in the `schedules` table: what any process (the CLI, the
/// admin API) sees of the schedules the processes registered.
public struct RegisteredSchedule: Sendable, Hashable, Codable {
    /// The schedule's name.
    public var name: String
    /// The job type each tick enqueues.
    public var jobType: String
    /// The queue of each tick's job.
    public var queue: String
    /// The cron expression, or `@every <n>s` for a fixed interval.
    public var expression: String
    /// Whether it is a cron expression (`"cron"`) or a fixed interval (`"interval"`).
    public var kind: String
    /// The time zone identifier its cron expression is read in, such as `"Europe/Berlin"`.
    public var timeZone: String
    /// What happens to missed ticks: `"skip"` or `"backfill"`.
    public var missedTicks: String
    /// With `"backfill"`, how many missed ticks at most are enqueued.
    public var backfillLimit: Int?
    /// The first tick not yet enqueued: when it next enqueues a job. `nil` when it never will.
    public var nextTickAt: Date?
    /// The latest tick it enqueued a job for, if any.
    public var lastTickAt: Date?
    /// When the job of ``lastTickAt`` was enqueued (later than the tick when the scheduler was late).
    public var lastEnqueuedAt: Date?
    /// The worker that last registered (or changed) it.
    public var registeredBy: String?
    /// When it was first registered.
    public var createdAt: Date
    /// When its definition or its ticks last changed.
    public var updatedAt: Date
}
