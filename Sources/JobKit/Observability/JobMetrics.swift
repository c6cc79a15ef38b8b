import CoreMetrics
import Foundation
import Synchronization

/// JobKit's swift-metrics instruments, made once per queue and job type and kept.
///
/// Labels follow swift-jobs (`swift.jobs.duration`, `swift.jobs.queued.duration`) and Oban's
/// telemetry (`[:oban, :job, :start | :stop | :exception]` with `duration` and `queue_time`),
/// under `jobkit.`. Dimensions are `queue` and `type` (both chosen by the application, so few),
/// plus `status` on the run-duration timer and `state` on the queue-depth meter; never a job id.
/// Documentation/Observability.md lists them.
final class JobMetrics: Sendable {
    /// The labels, as documented.
    enum Label {
        static let enqueued = "jobkit.jobs.enqueued"
        static let started = "jobkit.jobs.started"
        static let completed = "jobkit.jobs.completed"
        static let failed = "jobkit.jobs.failed"
        static let retried = "jobkit.jobs.retried"
        static let cancelled = "jobkit.jobs.cancelled"
        static let released = "jobkit.jobs.released"
        static let snoozed = "jobkit.jobs.snoozed"
        static let duration = "jobkit.jobs.duration"
        static let queuedDuration = "jobkit.jobs.queued.duration"
        static let queueDepth = "jobkit.queue.depth"
    }

    /// How an attempt ended, as the `status` dimension of `jobkit.jobs.duration` says it.
    enum Outcome: String, Sendable, CaseIterable {
        case completed
        case failed
        case retried
        case cancelled
    }

    /// The instruments of one queue and job type.
    struct Instruments: Sendable {
        let enqueued: Counter
        let started: Counter
        let completed: Counter
        let failed: Counter
        let retried: Counter
        let cancelled: Counter
        let released: Counter
        let snoozed: Counter
        let queuedDuration: CoreMetrics.Timer
        let durations: [Outcome: CoreMetrics.Timer]

        func counter(for outcome: Outcome) -> Counter {
            switch outcome {
            case .completed: self.completed
            case .failed: self.failed
            case .retried: self.retried
            case .cancelled: self.cancelled
            }
        }
    }

    private struct Key: Hashable {
        var queue: String
        var type: String
    }

    private struct DepthKey: Hashable {
        var queue: String
        var state: String
    }

    let factory: any MetricsFactory
    /// `false` when the factory is swift-metrics' no-op one: work done only for metrics is skipped.
    let isEnabled: Bool
    private let instruments = Mutex<[Key: Instruments]>([:])
    private let depthMeters = Mutex<[DepthKey: Meter]>([:])

    init(factory: any MetricsFactory) {
        self.factory = factory
        self.isEnabled = !(factory is NOOPMetricsHandler)
    }

    /// The instruments of `queue` and `type`, made on first use.
    func instruments(queue: String, type: String) -> Instruments {
        let key = Key(queue: queue, type: type)
        if let existing = self.instruments.withLock({ $0[key] }) { return existing }
        let made = self.make(key)
        return self.instruments.withLock { cache in
            if let existing = cache[key] { return existing }
            cache[key] = made
            return made
        }
    }

    private func make(_ key: Key) -> Instruments {
        let dimensions = [("queue", key.queue), ("type", key.type)]
        func counter(_ label: String) -> Counter {
            Counter(label: label, dimensions: dimensions, factory: self.factory)
        }
        var durations: [Outcome: CoreMetrics.Timer] = [:]
        for outcome in Outcome.allCases {
            durations[outcome] = CoreMetrics.Timer(
                label: Label.duration, dimensions: dimensions + [("status", outcome.rawValue)],
                preferredDisplayUnit: .seconds, factory: self.factory)
        }
        return Instruments(
            enqueued: counter(Label.enqueued), started: counter(Label.started), completed: counter(Label.completed),
            failed: counter(Label.failed), retried: counter(Label.retried), cancelled: counter(Label.cancelled),
            released: counter(Label.released), snoozed: counter(Label.snoozed),
            queuedDuration: CoreMetrics.Timer(label: Label.queuedDuration, dimensions: dimensions, preferredDisplayUnit: .seconds, factory: self.factory),
            durations: durations)
    }

    // MARK: - Recording

    /// `count` jobs entered `queue` as `scheduled`.
    func recordEnqueued(queue: String, type: String, count: Int = 1) {
        guard count > 0 else { return }
        self.instruments(queue: queue, type: type).enqueued.increment(by: count)
    }

    /// A job started an attempt; `waited` is the time from its run-at to its start, when known.
    func recordStarted(queue: String, type: String, waited: Duration?) {
        let instruments = self.instruments(queue: queue, type: type)
        instruments.started.increment()
        if let waited { instruments.queuedDuration.recordNanoseconds(max(0, waited.nanoseconds)) }
    }

    /// An attempt ended and its outcome is stored; `ran` is how long it ran, when known.
    func recordEnded(queue: String, type: String, outcome: Outcome, ran: Duration?) {
        let instruments = self.instruments(queue: queue, type: type)
        instruments.counter(for: outcome).increment()
        if let ran { instruments.durations[outcome]?.recordNanoseconds(max(0, ran.nanoseconds)) }
    }

    /// A running job was given back unfinished at shutdown.
    func recordReleased(queue: String, type: String) {
        self.instruments(queue: queue, type: type).released.increment()
    }

    /// A running job snoozed: back to `scheduled` for a while, its attempt given back.
    func recordSnoozed(queue: String, type: String) {
        self.instruments(queue: queue, type: type).snoozed.increment()
    }

    /// The jobs of `queue` waiting in `scheduled`: `available` ones may run now, `scheduled` ones later.
    func recordDepth(queue: String, available: Int, scheduled: Int) {
        for (state, value) in [("available", available), ("scheduled", scheduled)] {
            let key = DepthKey(queue: queue, state: state)
            let meter = self.depthMeters.withLock { meters in
                if let meter = meters[key] { return meter }
                let meter = Meter(label: Label.queueDepth, dimensions: [("queue", queue), ("state", state)], factory: self.factory)
                meters[key] = meter
                return meter
            }
            meter.set(value)
        }
    }

    /// Records the end of a job that the public lifecycle API moved, from the row it returned:
    /// only moves out of `in_progress` have a run time (`finished_at` or, for a retry, `updated_at`,
    /// minus `started_at`, both from the database's clock).
    func recordEnded(_ job: Job, outcome: Outcome, fromRunning: Bool) {
        var ran: Duration?
        if fromRunning, let started = job.startedAt {
            ran = .seconds((job.finishedAt ?? job.updatedAt).timeIntervalSince(started))
        }
        self.recordEnded(queue: job.queue, type: job.type, outcome: outcome, ran: ran)
    }
}

extension Duration {
    /// The duration in whole nanoseconds; saturates instead of overflowing.
    var nanoseconds: Int64 {
        let (whole, overflow) = self.components.seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return self.components.seconds < 0 ? .min : .max }
        let (total, overflowAgain) = whole.addingReportingOverflow(self.components.attoseconds / 1_000_000_000)
        return overflowAgain ? .max : total
    }
}
