import Foundation
@testable import JobKit
import Testing

/// Which ticks a scheduler enqueues, skips or backfills: pure logic, no database.
@Suite(.timeLimit(.minutes(2)))
struct TickPlanTests {
    static let utc = TimeZone(identifier: "UTC")!
    /// Every 10 seconds.
    static let everyTen = JobSchedule.Timing.cron(try! CronExpression("*/10 * * * * *"))
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)  // 2027-01-15T08:00:00Z, on a multiple of 10 s

    static func at(_ seconds: Double) -> Date { Self.t0.addingTimeInterval(seconds) }

    static func plan(
        _ policy: JobSchedule.MissedTickPolicy = .skip, pending: Double?, now: Double, threshold: Duration = .seconds(5),
        timing: JobSchedule.Timing = everyTen
    ) -> TickPlan {
        TickPlan.plan(
            timing: timing, timeZone: Self.utc, policy: policy, pending: pending.map(Self.at), now: Self.at(now),
            missedAfter: threshold)
    }

    @Test func nothingIsDueBeforeThePendingTick() {
        let plan = Self.plan(pending: 10, now: 9.9)
        #expect(plan.ticks.isEmpty)
        #expect(plan.next == Self.at(10))
        #expect(plan.skipped == nil)
    }

    @Test func aScheduleThatNeverTicksAgainStaysIdle() {
        let plan = Self.plan(pending: nil, now: 100)
        #expect(plan == TickPlan(ticks: [], skipped: nil, next: nil))
    }

    @Test func aDueTickIsEnqueuedAndTheNextOneFollows() {
        let plan = Self.plan(pending: 10, now: 10.2)
        #expect(plan.ticks == [Self.at(10)])
        #expect(plan.next == Self.at(20))
    }

    @Test func lateTicksWithinTheThresholdAreAllEnqueued() {
        // A leader took 4.5 s to take over: ticks 10 and 20 are late, not missed.
        let plan = Self.plan(.skip, pending: 10, now: 24.5, threshold: .seconds(15))
        #expect(plan.ticks == [Self.at(10), Self.at(20)])
        #expect(plan.skipped == nil)
        #expect(plan.next == Self.at(30))
    }

    @Test func skipLeavesOutTheMissedTicks() {
        // Down from before 10 to 303: ticks 10…290 are older than the 5 s threshold, 300 is not.
        let plan = Self.plan(.skip, pending: 10, now: 303)
        #expect(plan.ticks == [Self.at(300)])
        #expect(plan.skipped == Self.at(10)..<Self.at(300))
        #expect(plan.next == Self.at(310))
    }

    @Test func skipWithNoTickSinceTheCutoffEnqueuesNothing() {
        let plan = Self.plan(.skip, pending: 10, now: 307)
        #expect(plan.ticks.isEmpty)
        #expect(plan.skipped == Self.at(10)..<Self.at(310))
        #expect(plan.next == Self.at(310))
    }

    @Test func backfillEnqueuesTheLatestMissedTicksOldestFirst() {
        let plan = Self.plan(.backfill(limit: 3), pending: 10, now: 303)
        #expect(plan.ticks == [Self.at(270), Self.at(280), Self.at(290), Self.at(300)])
        #expect(plan.skipped == Self.at(10)..<Self.at(270))
        #expect(plan.next == Self.at(310))
    }

    @Test func backfillWithRoomForEveryMissedTickSkipsNone() {
        let plan = Self.plan(.backfill(limit: 100), pending: 10, now: 303)
        #expect(plan.ticks == stride(from: 10.0, through: 300, by: 10).map(Self.at))
        #expect(plan.skipped == nil)
    }

    @Test func backfillAfterALongDowntimeStillFindsTheLatestTicks() throws {
        // Every second, down for two days: 172,800 missed ticks, more than the plan walks one by one.
        let everySecond = JobSchedule.Timing.cron(try CronExpression("* * * * * *"))
        let plan = Self.plan(.backfill(limit: 5), pending: 1, now: 172_800.5, threshold: .seconds(1), timing: everySecond)
        #expect(plan.ticks == [172_795, 172_796, 172_797, 172_798, 172_799, 172_800].map(Self.at))
        #expect(plan.skipped?.lowerBound == Self.at(1))
        #expect(plan.skipped?.upperBound == Self.at(172_795))
        #expect(plan.next == Self.at(172_801))
    }

    @Test func intervalsPlanAsCronExpressionsDo() {
        let plan = Self.plan(.backfill(limit: 2), pending: 60, now: 601, threshold: .seconds(30), timing: .every(.seconds(60)))
        #expect(plan.ticks == [Self.at(480), Self.at(540), Self.at(600)])
        #expect(plan.skipped == Self.at(60)..<Self.at(480))
        #expect(plan.next == Self.at(660))
    }

    @Test func theUniqueKeyNamesTheScheduleAndTheTickInUTC() {
        #expect(JobSchedule.uniqueKey(name: "nightly", tick: Self.at(0.4)) == "schedule:nightly:2027-01-15T08:00:00Z")
    }
}
