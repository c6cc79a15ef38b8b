import Foundation

/// Which ticks of one schedule to enqueue now: pure logic, tested without a database.
///
/// Given the schedule's first pending tick and the time, the due ticks (at or before `now`)
/// fall in two groups. Those later than `missedAfter` (the scheduler is merely late: a busy
/// leader, a leader that just took over) are always enqueued. Older ones were *missed* (no
/// scheduler ran then); the policy decides: `.skip` leaves them out, `.backfill(limit)`
/// enqueues the latest `limit` of them.
struct TickPlan: Sendable, Hashable {
    /// The ticks to enqueue, oldest first.
    var ticks: [Date] = []
    /// The missed ticks left out, if any: every tick in this range; its end is the first tick
    /// not left out (or the cutoff, when none follows).
    var skipped: Range<Date>?
    /// The schedule's next pending tick after this plan: the first tick after `now`.
    var next: Date?

    /// Missed ticks enumerated one by one before the plan jumps ahead (see ``plan(timing:timeZone:policy:pending:now:missedAfter:)``).
    static let enumerationLimit = 100_000
    /// The most on-time ticks one plan enqueues for one schedule (a threshold of a minute and
    /// ticks every second make 60); later ones wait for the next plan.
    static let onTimeLimit = 10_000

    /// Plans the ticks of a schedule.
    /// - Parameters:
    ///   - timing: The schedule's timing.
    ///   - timeZone: Its time zone.
    ///   - policy: What to do with missed ticks.
    ///   - pending: Its first tick not yet enqueued or skipped (`nil`: it never ticks again).
    ///   - now: The time.
    ///   - missedAfter: Ticks this long before `now` or longer count as missed.
    /// - Returns: The plan; empty with `next == pending` when nothing is due.
    static func plan(
        timing: JobSchedule.Timing,
        timeZone: TimeZone,
        policy: JobSchedule.MissedTickPolicy,
        pending: Date?,
        now: Date,
        missedAfter threshold: Duration
    ) -> TickPlan {
        guard let pending, pending <= now else { return TickPlan(next: pending) }
        var plan = TickPlan()
        let cutoff = now.addingTimeInterval(-threshold.timeInterval)
        var tick: Date? = pending

        if let first = tick, first < cutoff {
            // The first tick at or after the cutoff: ticks fall on whole seconds.
            let resume = Date(timeIntervalSince1970: cutoff.timeIntervalSince1970.rounded(.up) - 1)
            switch policy {
            case .skip:
                tick = timing.nextTick(after: resume, in: timeZone)
                plan.skipped = first..<(tick ?? cutoff)
            case .backfill(let limit):
                // The latest `limit` missed ticks: kept[head...] is a window over the walk.
                var kept: [Date] = []
                var head = 0
                var firstLeftOut: Date?
                var counted = 0
                var current: Date? = first
                var walkStart = first
                while let missed = current, missed < cutoff {
                    kept.append(missed)
                    if kept.count - head > limit {
                        if firstLeftOut == nil { firstLeftOut = kept[head] }
                        head += 1
                        if head >= 4096 && head * 2 >= kept.count {
                            kept.removeFirst(head)
                            head = 0
                        }
                    }
                    counted += 1
                    if counted == Self.enumerationLimit {
                        // Too many missed ticks to walk: jump to a point from which about half
                        // the enumeration limit's worth of ticks (far more than `limit`) remain.
                        let spacing = missed.timeIntervalSince(walkStart) / Double(counted - 1)
                        let jump = cutoff.addingTimeInterval(-spacing * Double(Self.enumerationLimit / 2))
                        if jump > missed, let resumed = timing.nextTick(after: jump, in: timeZone) {
                            if firstLeftOut == nil { firstLeftOut = kept[head] }
                            kept.removeAll()
                            head = 0
                            counted = 0
                            current = resumed
                            walkStart = resumed
                            continue
                        }
                    }
                    current = timing.nextTick(after: missed, in: timeZone)
                }
                plan.ticks = Array(kept[head...])
                if let firstLeftOut { plan.skipped = firstLeftOut..<(plan.ticks.first ?? cutoff) }
                tick = current
            }
        }
        while let current = tick, current <= now, plan.ticks.count < Self.onTimeLimit {
            plan.ticks.append(current)
            tick = timing.nextTick(after: current, in: timeZone)
        }
        plan.next = tick
        return plan
    }
}

extension Duration {
    /// The duration in seconds, as a `TimeInterval`.
    var timeInterval: TimeInterval {
        Double(self.components.seconds) + Double(self.components.attoseconds) / 1e18
    }
}
