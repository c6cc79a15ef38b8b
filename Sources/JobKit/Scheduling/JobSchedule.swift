import Foundation

/// A periodic job: on every tick of a cron expression or a fixed interval, one job of a
/// handler's type is enqueued, across all processes.
///
/// Each tick's job carries the unique key ``uniqueKey(name:tick:)``
/// (`schedule:<name>:<tick in ISO 8601>`) and runs at the tick (`runAt`), so a tick is never
/// enqueued twice; a ``JobScheduler`` does the enqueuing.
///
/// ```swift
/// let nightly = try JobSchedule("nightly-report", SendReport.self, payload: .init(kind: "daily"),
///                               cron: "0 3 * * *", timeZone: TimeZone(identifier: "Europe/Berlin")!)
/// let heartbeat = try JobSchedule("heartbeat", Ping.self, payload: EmptyPayload(), every: .seconds(30))
/// ```
public struct JobSchedule: Sendable, Hashable {
    /// When a schedule ticks.
    public enum Timing: Sendable, Hashable, CustomStringConvertible {
        /// On the fires of a cron expression, read on the schedule's time zone's clocks.
        case cron(CronExpression)
        /// Every so many whole seconds, counted from 1970-01-01 00:00:00 UTC, so that every
        /// process agrees on the ticks (`every: .seconds(300)` ticks at :00, :05, …).
        case every(Duration)

        /// `"*/5 * * * *"`, or `"@every 300s"` for an interval.
        public var description: String {
            switch self {
            case .cron(let expression): expression.text
            case .every(let interval): "@every \(interval.components.seconds)s"
            }
        }

        /// The first tick strictly after `date`.
        /// - Parameters:
        ///   - date: The instant to start after.
        ///   - timeZone: Whose clocks a cron expression is read on; an interval ignores it.
        /// - Returns: The tick, or `nil` when there is none (a cron expression with no fire
        ///   within 50 years).
        public func nextTick(after date: Date, in timeZone: TimeZone) -> Date? {
            switch self {
            case .cron(let expression):
                return expression.nextFire(after: date, in: timeZone)
            case .every(let interval):
                let seconds = interval.components.seconds
                guard seconds >= 1, date.timeIntervalSince1970.isFinite else { return nil }
                let now = Int64(date.timeIntervalSince1970.rounded(.down))
                return Date(timeIntervalSince1970: Double((CivilTime.floorDivide(now, seconds) + 1) * seconds))
            }
        }
    }

    /// What happens to ticks that no scheduler enqueued in time (every process was down):
    /// those later than ``JobScheduler/Configuration/missedTickThreshold``.
    public enum MissedTickPolicy: Sendable, Hashable, CustomStringConvertible {
        /// Leave them out; the schedule goes on from the next tick. The default.
        case skip
        /// Enqueue the latest `limit` of them (1...10,000), oldest first; leave out the rest.
        case backfill(limit: Int)

        /// `"skip"` or `"backfill(3)"`.
        public var description: String {
            switch self {
            case .skip: "skip"
            case .backfill(let limit): "backfill(\(limit))"
            }
        }

        /// The largest backfill limit.
        public static let maximumBackfill = 10_000
    }

    /// The schedule's name, unique in the schema: part of every tick's unique key.
    public var name: String
    /// The job type each tick enqueues.
    public var jobType: String
    /// The payload each tick's job gets, as JSON text.
    public var payloadJSON: String
    /// When it ticks.
    public var timing: Timing
    /// Whose clocks a cron expression is read on. Defaults to UTC.
    public var timeZone: TimeZone
    /// Queue, priority, attempts, timeout and reference of each tick's job; `runAt` and
    /// `uniqueKey` are the scheduler's.
    public var options: JobOptions
    /// What happens to ticks missed while no scheduler ran. Defaults to ``MissedTickPolicy/skip``.
    public var missedTicks: MissedTickPolicy

    /// The longest schedule name.
    public static let maximumNameLength = 200

    /// Creates a schedule for a handler on a cron expression.
    /// - Parameters:
    ///   - name: Unique in the schema; at most 200 characters.
    ///   - handler: The handler type whose jobs it enqueues.
    ///   - payload: Each tick's job's input.
    ///   - cron: Five fields, six with seconds first, or a macro; see ``CronExpression``.
    ///   - timeZone: Whose clocks the expression is read on. Defaults to UTC.
    ///   - options: Queue, priority, attempts (default: the handler's ``RetryPolicy/maxAttempts``),
    ///     timeout (default: the handler's), reference. `runAt` and `uniqueKey` must be `nil`.
    ///   - missedTicks: What happens to missed ticks. Defaults to ``MissedTickPolicy/skip``.
    /// - Throws: ``ScheduleError`` `.invalidExpression` (naming the field), `.invalidSchedule`.
    public init<Handler: JobHandler>(
        _ name: String,
        _ handler: Handler.Type,
        payload: Handler.Payload,
        cron: String,
        timeZone: TimeZone = .gmt,
        options: JobOptions = .init(),
        missedTicks: MissedTickPolicy = .skip
    ) throws(ScheduleError) {
        try self.init(
            name, handler, payload: payload, timing: .cron(try CronExpression(cron)), timeZone: timeZone, options: options,
            missedTicks: missedTicks)
    }

    /// Creates a schedule for a handler on a fixed interval.
    /// - Parameters:
    ///   - name: Unique in the schema; at most 200 characters.
    ///   - handler: The handler type whose jobs it enqueues.
    ///   - payload: Each tick's job's input.
    ///   - interval: Whole seconds, at least 1; ticks fall on multiples of it since 1970 (UTC).
    ///   - options: As for ``init(_:_:payload:cron:timeZone:options:missedTicks:)``.
    ///   - missedTicks: What happens to missed ticks. Defaults to ``MissedTickPolicy/skip``.
    /// - Throws: ``ScheduleError/Code/invalidSchedule``.
    public init<Handler: JobHandler>(
        _ name: String,
        _ handler: Handler.Type,
        payload: Handler.Payload,
        every interval: Duration,
        options: JobOptions = .init(),
        missedTicks: MissedTickPolicy = .skip
    ) throws(ScheduleError) {
        try self.init(
            name, handler, payload: payload, timing: .every(interval), timeZone: .gmt,
            options: options, missedTicks: missedTicks)
    }

    /// Creates a schedule for a handler on any timing.
    /// - Parameters:
    ///   - name: Unique in the schema; at most 200 characters.
    ///   - handler: The handler type whose jobs it enqueues.
    ///   - payload: Each tick's job's input.
    ///   - timing: A cron expression or an interval.
    ///   - timeZone: Whose clocks a cron expression is read on.
    ///   - options: As for ``init(_:_:payload:cron:timeZone:options:missedTicks:)``.
    ///   - missedTicks: What happens to missed ticks.
    /// - Throws: ``ScheduleError/Code/invalidSchedule``.
    public init<Handler: JobHandler>(
        _ name: String,
        _ handler: Handler.Type,
        payload: Handler.Payload,
        timing: Timing,
        timeZone: TimeZone,
        options: JobOptions = .init(),
        missedTicks: MissedTickPolicy = .skip
    ) throws(ScheduleError) {
        var options = options
        if options.maxAttempts == nil { options.maxAttempts = Handler.retryPolicy.maxAttempts }
        if options.timeout == nil { options.timeout = Handler.timeout }
        let json: String
        do {
            json = try JobJSON.encode(payload)
        } catch {
            throw .invalidSchedule("its payload does not encode: \(error)", name: name)
        }
        try self.init(name, jobType: Handler.type, payloadJSON: json, timing: timing, timeZone: timeZone, options: options, missedTicks: missedTicks)
    }

    /// Creates a schedule for a job type by name, with its payload as JSON text.
    /// - Parameters:
    ///   - name: Unique in the schema; at most 200 characters.
    ///   - jobType: The job type each tick enqueues.
    ///   - payloadJSON: Each tick's job's input, as JSON text. Defaults to `{}`.
    ///   - timing: A cron expression or an interval.
    ///   - timeZone: Whose clocks a cron expression is read on. Defaults to UTC.
    ///   - options: Queue, priority, attempts (default 1), timeout, reference; `runAt` and
    ///     `uniqueKey` must be `nil`.
    ///   - missedTicks: What happens to missed ticks. Defaults to ``MissedTickPolicy/skip``.
    /// - Throws: ``ScheduleError/Code/invalidSchedule``.
    public init(
        _ name: String,
        jobType: String,
        payloadJSON: String = "{}",
        timing: Timing,
        timeZone: TimeZone = .gmt,
        options: JobOptions = .init(),
        missedTicks: MissedTickPolicy = .skip
    ) throws(ScheduleError) {
        self.name = name
        self.jobType = jobType
        self.payloadJSON = payloadJSON
        self.timing = timing
        self.timeZone = timeZone
        self.options = options
        self.missedTicks = missedTicks
        try self.validate()
    }

    /// The unique key of the job a tick enqueues: `schedule:<name>:<tick>`, the tick in
    /// ISO 8601, UTC, whole seconds (`schedule:nightly:2026-11-23T02:00:00Z`).
    /// - Parameters:
    ///   - name: The schedule's name.
    ///   - tick: The tick.
    /// - Returns: The key, to find the tick's job with ``JobService/job(uniqueKey:)``.
    public static func uniqueKey(name: String, tick: Date) -> String {
        let seconds = Int64(tick.timeIntervalSince1970.rounded(.down))
        let time = CivilTime(localSeconds: seconds)
        let text = time.description.replacingOccurrences(of: " ", with: "T") + "Z"
        return "schedule:\(name):\(text)"
    }

    /// Checks every setting; called by each initializer.
    func validate() throws(ScheduleError) {
        guard !self.name.isEmpty, self.name.count <= Self.maximumNameLength else {
            throw .invalidSchedule("the name must have 1 to \(Self.maximumNameLength) characters", name: self.name)
        }
        guard !self.name.contains(where: { $0.isNewline }) else {
            throw .invalidSchedule("the name must not contain line breaks", name: self.name)
        }
        guard !self.jobType.isEmpty else { throw .invalidSchedule("the job type is empty", name: self.name) }
        if case .every(let interval) = self.timing {
            guard interval.components.attoseconds == 0, interval.components.seconds >= 1 else {
                throw .invalidSchedule("the interval must be a whole number of seconds, at least 1, not \(interval)", name: self.name)
            }
        }
        if case .backfill(let limit) = self.missedTicks, !(1...MissedTickPolicy.maximumBackfill).contains(limit) {
            throw .invalidSchedule("the backfill limit must be within 1...\(MissedTickPolicy.maximumBackfill), not \(limit)", name: self.name)
        }
        guard self.options.runAt == nil else { throw .invalidSchedule("runAt is set by the scheduler (the tick)", name: self.name) }
        guard self.options.uniqueKey == nil else { throw .invalidSchedule("uniqueKey is set by the scheduler (one per tick)", name: self.name) }
        do {
            try self.options.validate()
        } catch {
            throw .invalidSchedule(error.description, name: self.name)
        }
        guard (try? JSONSerialization.jsonObject(with: Data(self.payloadJSON.utf8), options: [.fragmentsAllowed])) != nil else {
            throw .invalidSchedule("the payload is not JSON", name: self.name)
        }
    }
}
