import Foundation

/// What one pass of a ``JobScheduler`` did: ``JobScheduler/runOnce(at:)``'s result.
public struct SchedulerReport: Sendable, Hashable {
    /// Missed ticks of one schedule that its policy left out.
    public struct Skip: Sendable, Hashable {
        /// The schedule.
        public var name: String
        /// Every tick from this one on was left out…
        public var from: Date
        /// …up to (not including) this instant.
        public var until: Date

        /// Creates a record of skipped ticks.
        /// - Parameters:
        ///   - name: The schedule.
        ///   - from: The first tick left out.
        ///   - until: The instant the ticks left out end before.
        public init(name: String, from: Date, until: Date) {
            self.name = name
            self.from = from
            self.until = until
        }
    }

    /// The time the pass planned for (the `now` it was given).
    public var now: Date
    /// How long it took, in milliseconds.
    public var durationMilliseconds: Double = 0
    /// Jobs enqueued, one per tick.
    public var enqueued = 0
    /// Schedules moved forward by this pass.
    public var advanced = 0
    /// Schedules another scheduler moved first (nothing was enqueued for them here).
    public var lostRaces = 0
    /// Missed ticks left out, per schedule.
    public var skipped: [Skip] = []
    /// Schedules whose stored definition this process cannot read (an unknown time zone, an
    /// expression from a newer version), with the reason; they are left as they are.
    public var unreadable: [String: String] = [:]
    /// The earliest next tick of all schedules after this pass, as far as it knows.
    public var nextTickAt: Date?
    /// Whether more may be due right away (a full batch, a lost race): run again at once.
    public var mayHaveMore = false

    /// Creates an empty report for a pass at `now`.
    public init(now: Date) {
        self.now = now
    }
}
