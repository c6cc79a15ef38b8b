import Foundation
import LibPQ
import Logging
import ServiceLifecycle
import Synchronization
import Tracing

/// Claims enqueued jobs and runs their handlers, in any number of processes at once.
///
/// Each executor claims as many jobs as it has free slots in one statement
/// (`FOR UPDATE SKIP LOCKED`, by priority then run-at), runs each as a child task with at most
/// ``Configuration/concurrency`` at once, and writes outcomes back in batches: completions
/// and failures that arrive while a write is in flight share the next statement. It renews
/// all its leases in one statement per heartbeat, which also reports cancellation requests.
/// It wakes on LISTEN/NOTIFY when work is enqueued, and polls as a safety net.
///
/// Each job runs in a consumer span `"<type> process"` that continues the trace stored in its row
/// (started where it was enqueued, in any process); its ``JobContext/logger`` carries
/// `jobkit.job.id`, `.type`, `.attempt` and `.queue`; the `jobkit.jobs.*` metrics and the
/// `jobkit.queue.depth` meter go to the service's ``JobService/Configuration/metricsFactory``
/// (Documentation/Observability.md).
///
/// ```swift
/// let executor = JobExecutor(service: jobs, handlers: [SendEmail(), Thumbnail()],
///                            configuration: .init(queues: ["default"], concurrency: 10))
/// let group = ServiceGroup(services: [jobs, executor], gracefulShutdownSignals: [.sigterm], logger: logger)
/// try await group.run()
/// ```
///
/// > Warning: It works only while ``run()`` runs. On graceful shutdown it stops claiming, lets
/// > running jobs finish until ``Configuration/shutdownGracePeriod``, then cancels them and
/// > gives them back (`scheduled`, the attempt not counted) so another process takes them at once.
public final class JobExecutor: Service, Sendable {
    /// What an executor serves and how hard it works.
    public struct Configuration: Sendable {
        /// The queues to claim from. Defaults to `["default"]`.
        public var queues: [String]
        /// The most jobs running at once. Defaults to 10.
        public var concurrency: Int
        /// How often to look for work when no notification comes. Defaults to 1 second.
        public var pollInterval: Duration
        /// How long running jobs may go on after graceful shutdown starts. Defaults to 30 seconds.
        public var shutdownGracePeriod: Duration
        /// How often to take back jobs whose worker died (expired leases). Defaults to 5 seconds.
        public var rescueInterval: Duration
        /// Whether to wake on LISTEN/NOTIFY. Defaults to `true`; `false` polls only (for
        /// PgBouncer in transaction mode), as does a service whose
        /// ``JobService/Configuration/usesNotifications`` is `false`. See `Documentation/PollOnly.md`.
        public var usesNotifications: Bool
        /// This executor's identity as a lease owner. `nil` (the default) is the service's
        /// ``JobService/Configuration/workerID`` followed by `/executor-N`, unique in the process.
        /// At start, jobs still leased to this identity (orphans of a previous run) are taken back
        /// at once: give a stable one (the same after a restart) to get that, and keep it unique
        /// among live executors.
        public var workerID: String?

        /// Creates a configuration; every parameter has a default.
        /// - Parameters:
        ///   - queues: The queues to claim from; at least one. Defaults to `["default"]`.
        ///   - concurrency: The most jobs running at once; at least 1. Defaults to 10.
        ///   - pollInterval: How often to look for work without a notification. Defaults to 1 second.
        ///   - shutdownGracePeriod: How long running jobs may go on after graceful shutdown starts. Defaults to 30 seconds.
        ///   - rescueInterval: How often to take back jobs whose lease expired. Defaults to 5 seconds.
        ///   - usesNotifications: Whether to wake on LISTEN/NOTIFY. Defaults to `true`.
        ///   - workerID: The executor's lease-owner identity; `nil` (the default) is the service's
        ///     followed by `/executor-N`, unique in the process.
        public init(
            queues: [String] = ["default"],
            concurrency: Int = 10,
            pollInterval: Duration = .seconds(1),
            shutdownGracePeriod: Duration = .seconds(30),
            rescueInterval: Duration = .seconds(5),
            usesNotifications: Bool = true,
            workerID: String? = nil
        ) {
            precondition(!queues.isEmpty, "an executor needs at least one queue")
            precondition(concurrency >= 1, "concurrency must be at least 1")
            precondition(pollInterval > .zero && rescueInterval > .zero, "intervals must be positive")
            self.queues = queues
            self.concurrency = concurrency
            self.pollInterval = pollInterval
            self.shutdownGracePeriod = shutdownGracePeriod
            self.rescueInterval = rescueInterval
            self.usesNotifications = usesNotifications
            self.workerID = workerID
        }
    }

    /// What the executor is doing, for tests and stats.
    struct Running: Sendable {
        var token: UUID
        var signal: CancelSignal
        /// Set when shutdown cancels the job: its outcome is `released`, not `cancelled`.
        var isReleased = false
        /// Set when the heartbeat found the lease gone: nothing is written for it.
        var isLeaseLost = false
    }

    /// An outcome waiting to be written, with what its metrics need once it is.
    struct Finished: Sendable {
        var outcome: JobStore.Outcome
        var queue: String
        var type: String
        /// How long the handler ran.
        var ran: Duration
    }

    /// A claimed job whose type no handler runs.
    private struct MissingHandler: Error, CustomStringConvertible {
        var type: String
        var description: String { "no handler is registered for job type \"\(self.type)\"" }
    }

    struct State {
        var running: [UUID: Running] = [:]
        var outcomes: [Finished] = []
        var isStopping = false
        /// The last claim filled every free slot, so more work may be waiting.
        var mayHaveMore = true
        /// Which of its queues have fleet-wide limits, and when that was read.
        var limitedQueues: (queues: [JobStore.LimitedQueue], readAt: ContinuousClock.Instant) = ([], .now)
        /// A notification about one of its queues arrived (a pause, a resume or new limits
        /// send one too): read which queues have limits again before the next claim.
        var limitsMayHaveChanged = true
        /// The most jobs that ever ran at once (for tests of the limit).
        var peakRunning = 0
        /// Batches taken from `outcomes` whose statement has not ended yet.
        var writesInFlight = 0
    }

    /// The service whose store and settings it uses.
    public let service: JobService
    /// Its settings.
    public let configuration: Configuration
    private let handlers: [String: RegisteredHandler]
    let workerID: String
    let logger: Logger
    let state = Mutex(State())
    private let claimWake = WakeSignal()
    private let writeWake = WakeSignal()
    /// Signalled whenever a batch's statement ends, written or not.
    private let writeEnded = WakeSignal()

    /// Creates an executor.
    /// - Parameters:
    ///   - service: The job service (its database, schema and lease settings).
    ///   - handlers: The handlers for the job types it runs; a claimed job of another type fails.
    ///   - configuration: Queues, concurrency, intervals.
    ///   - logger: Receives `debug` lifecycle entries with each job's `jobkit.job.id`, `.type`,
    ///     `.attempt` and `.queue`, and `jobkit.worker.id`.
    public init(service: JobService, handlers: [any JobHandler], configuration: Configuration = .init(), logger: Logger = JobKitLogging.noop) {
        self.service = service
        self.configuration = configuration
        var registered: [String: RegisteredHandler] = [:]
        for handler in handlers {
            let entry = RegisteredHandler(handler)
            precondition(registered[entry.type] == nil, "two handlers for job type \(entry.type)")
            registered[entry.type] = entry
        }
        self.handlers = registered
        self.workerID = configuration.workerID ?? "\(service.configuration.workerID)/executor-\(executorNumbers.next())"
        var logger = logger
        logger[metadataKey: "jobkit.worker.id"] = "\(self.workerID)"
        self.logger = logger
    }

    /// The most jobs this executor ever ran at once.
    var peakRunning: Int { self.state.withLock { $0.peakRunning } }

    // MARK: - Service

    /// Runs until cancelled or gracefully shut down.
    /// - Throws: Only `CancellationError`-free failures of set-up; database errors while running
    ///   are logged and retried.
    public func run() async throws {
        let rescued = try await self.service.store.rescue(owner: self.workerID)
        if rescued.total > 0 {
            self.logger.debug("Took back orphaned jobs of this worker", metadata: ["jobkit.jobs.count": "\(rescued.total)"])
        }
        try await self.heartbeatWorker()
        let listener = self.configuration.usesNotifications && self.service.configuration.usesNotifications
            ? PostgresListener(configuration: self.service.pool.connectionConfiguration, logger: self.logger) : nil
        await withDiscardingTaskGroup { background in
            if let listener {
                background.addTask { try? await listener.run() }
                background.addTask { await self.listen(to: listener) }
            }
            background.addTask { await self.heartbeatLoop() }
            background.addTask { await self.rescueLoop() }
            background.addTask { await self.writeLoop() }
            await withGracefulShutdownHandler {
                await self.claimLoop()
            } onGracefulShutdown: {
                self.state.withLock { $0.isStopping = true }
                self.claimWake.signal()
            }
            // Every job has ended and its outcome is queued: write the last ones, then stop.
            await self.flushRemaining()
            background.cancelAll()
        }
        // A task of its own: the worker leaves the list of live workers even when cancelled.
        await Task {
            try? await self.service.store.unregisterWorker(id: self.workerID)
        }.value
    }

    /// Records this worker as alive, for health checks; in the same statement, when metrics are
    /// on, counts its queues' waiting jobs for the `jobkit.queue.depth` meter.
    private func heartbeatWorker() async throws {
        let metrics = self.service.metrics
        let depths = try await self.service.store.registerWorker(
            id: self.workerID, queues: self.configuration.queues, concurrency: self.configuration.concurrency,
            running: self.state.withLock { $0.running.count }, countingQueues: metrics.isEnabled)
        for depth in depths {
            metrics.recordDepth(queue: depth.queue, available: depth.available, scheduled: depth.scheduled)
        }
    }

    // MARK: - Claiming and running

    private func claimLoop() async {
        await withDiscardingTaskGroup { jobs in
            var failures = 0
            // Back-to-back claims while every slot fills.
            var busy = false
            while !Task.isCancelled {
                let (free, stopping) = self.state.withLock { ($0.isStopping ? 0 : self.configuration.concurrency - $0.running.count, $0.isStopping) }
                if stopping { break }
                if free > 0 {
                    var claimed: [Job]
                    do {
                        claimed = try await self.claim(free)
                        failures = 0
                    } catch {
                        failures += 1
                        self.logger.info("Claim failed; retrying", metadata: ["jobkit.error": "\(error)"])
                        await self.claimWake.wait(timeout: .milliseconds(min(100 * (1 << min(failures, 5)), 2000)))
                        continue
                    }
                    self.state.withLock { state in
                        for job in claimed {
                            state.running[job.id] = Running(token: job.lease?.token ?? UUID(), signal: CancelSignal())
                        }
                        state.peakRunning = max(state.peakRunning, state.running.count)
                        state.mayHaveMore = claimed.count == free
                    }
                    for job in claimed {
                        // Both times come from the database's clock: run-at to the claim.
                        self.service.metrics.recordStarted(
                            queue: job.queue, type: job.type, waited: job.startedAt.map { .seconds($0.timeIntervalSince(job.runAt)) })
                        jobs.addTask { await self.execute(job) }
                    }
                    busy = claimed.count == free
                    if busy { continue }
                }
                busy = false
                await self.claimWake.wait(timeout: self.configuration.pollInterval)
            }
            await self.drain()
        }
    }

    /// Claims up to `free` jobs: one statement for the queues without limits, then one locked
    /// claim per queue with limits (paused queues are skipped by both).
    ///
    /// Which queues have limits is read again once per poll interval, and after a notification
    /// about one of its queues (a pause, a resume or new limits send one).
    private func claim(_ free: Int) async throws -> [Job] {
        let store = self.service.store
        let now = ContinuousClock.now
        let (limits, mayHaveChanged) = self.state.withLock { state in
            defer { state.limitsMayHaveChanged = false }
            return (state.limitedQueues, state.limitsMayHaveChanged)
        }
        var limited = limits.queues
        if mayHaveChanged || now - limits.readAt >= self.configuration.pollInterval {
            do {
                limited = try await store.limitedQueues(among: self.configuration.queues)
            } catch {
                self.state.withLock { $0.limitsMayHaveChanged = true }
                throw error
            }
            self.state.withLock { $0.limitedQueues = (limited, now) }
        }
        let leaseDuration = self.service.configuration.leaseDuration
        let unlimited = self.configuration.queues.filter { name in !limited.contains { $0.name == name } }
        var claimed = unlimited.isEmpty
            ? [] : try await store.claim(queues: unlimited, limit: free, owner: self.workerID, leaseDuration: leaseDuration)
        for queue in limited where claimed.count < free {
            do {
                claimed += try await store.claimLimited(queue: queue, limit: free - claimed.count, owner: self.workerID, leaseDuration: leaseDuration)
            } catch where !claimed.isEmpty {
                // The jobs claimed so far are ours to run: report the failure, keep them.
                self.logger.info("Claim failed; retrying", metadata: ["jobkit.error": "\(error)", "jobkit.queue": "\(queue)"])
                break
            }
        }
        return claimed
    }

    /// After shutdown began: wait for running jobs until the grace period ends, then release them.
    private func drain() async {
        let deadline = ContinuousClock.now + self.configuration.shutdownGracePeriod
        while self.state.withLock({ !$0.running.isEmpty }) && ContinuousClock.now < deadline {
            await self.claimWake.wait(timeout: .milliseconds(50))
        }
        let signals = self.state.withLock { state -> [CancelSignal] in
            for id in state.running.keys { state.running[id]?.isReleased = true }
            return state.running.values.map(\.signal)
        }
        if !signals.isEmpty {
            self.logger.debug("Releasing running jobs at shutdown", metadata: ["jobkit.jobs.count": "\(signals.count)"])
        }
        signals.forEach { $0.fire() }
    }

    func execute(_ job: Job) async {
        guard let token = job.lease?.token, let signal = self.state.withLock({ $0.running[job.id]?.signal }) else { return }
        let logger = JobService.jobLogger(self.logger, job)
        logger.debug("Job started")
        let tracing = self.service.tracing
        let span = tracing.startSpan("\(job.type) process", context: tracing.context(fromJSON: job.traceContextJSON), kind: .consumer)
        JobTracing.describe(span, id: job.id, type: job.type, queue: job.queue, attempt: job.attempt)
        let started = ContinuousClock.now
        let outcome: JobStore.Outcome?
        var failure: (any Error)?
        if let handler = self.handlers[job.type] {
            let context = JobContext(id: job.id, type: job.type, attempt: job.attempt, lease: token, logger: logger, service: self.service, signal: signal)
            let supervise = {
                await self.service.supervise(context, timeout: job.timeout ?? handler.timeout, renewsLease: false) { context in
                    try await handler.run(job.payloadJSON, context)
                }
            }
            let result: JobService.RunOutcome<String>
            if let span {
                result = await ServiceContext.$current.withValue(span.context) { await supervise() }
            } else {
                result = await supervise()
            }
            switch result {
            case .threw(let error): failure = error
            case .leaseLost(let error): failure = error
            case .timedOut(let timeout): failure = JobError.timedOut(id: job.id, after: timeout)
            case .returned, .cancelRequested: break
            }
            outcome = self.outcome(of: job, token: token, result: result, policy: handler.retryPolicy)
        } else {
            let error = MissingHandler(type: job.type)
            failure = error
            outcome = JobStore.Outcome(id: job.id, lease: token, kind: .failed, error: error.description)
        }
        let ran = ContinuousClock.now - started
        self.state.withLock { state in
            state.running[job.id] = nil
            if let outcome { state.outcomes.append(Finished(outcome: outcome, queue: job.queue, type: job.type, ran: ran)) }
        }
        if let span {
            span.attributes[JobTracing.Attribute.outcome] = Self.spanOutcome(outcome?.kind)
            switch outcome?.kind {
            case .failed?, .retry?, nil:
                if let failure { JobTracing.fail(span, failure) }
            case .done?, .cancelled?, .released?, .snoozed?:
                break
            }
            span.end()
        }
        logger.debug("Job ended", metadata: ["jobkit.job.outcome": "\(outcome?.kind.rawValue ?? "abandoned")"])
        self.writeWake.signal()
        if self.state.withLock({ $0.mayHaveMore || $0.isStopping }) { self.claimWake.signal() }
    }

    /// The `jobkit.job.outcome` span attribute for an outcome (`nil`: the lease was lost).
    private static func spanOutcome(_ kind: JobStore.Outcome.Kind?) -> String {
        switch kind {
        case .done?: "completed"
        case .retry?: "retried"
        case .failed?: "failed"
        case .cancelled?: "cancelled"
        case .released?: "released"
        case .snoozed?: "snoozed"
        case nil: "lease_lost"
        }
    }

    /// Counts written outcomes in the metrics.
    private func recordWritten(_ finished: Finished) {
        let metrics = self.service.metrics
        switch finished.outcome.kind {
        case .done: metrics.recordEnded(queue: finished.queue, type: finished.type, outcome: .completed, ran: finished.ran)
        case .retry: metrics.recordEnded(queue: finished.queue, type: finished.type, outcome: .retried, ran: finished.ran)
        case .failed: metrics.recordEnded(queue: finished.queue, type: finished.type, outcome: .failed, ran: finished.ran)
        case .cancelled: metrics.recordEnded(queue: finished.queue, type: finished.type, outcome: .cancelled, ran: finished.ran)
        case .released: metrics.recordReleased(queue: finished.queue, type: finished.type)
        case .snoozed: metrics.recordSnoozed(queue: finished.queue, type: finished.type)
        }
    }

    private func outcome(of job: Job, token: UUID, result: JobService.RunOutcome<String>, policy: RetryPolicy) -> JobStore.Outcome? {
        let flags = self.state.withLock { $0.running[job.id] }
        if flags?.isLeaseLost == true { return nil }
        func failure(_ message: String) -> JobStore.Outcome {
            if job.attempt < job.maxAttempts {
                return JobStore.Outcome(id: job.id, lease: token, kind: .retry, error: message, delay: policy.delay(afterAttempt: job.attempt))
            }
            return JobStore.Outcome(id: job.id, lease: token, kind: .failed, error: message)
        }
        func stopped() -> JobStore.Outcome {
            flags?.isReleased == true
                ? JobStore.Outcome(id: job.id, lease: token, kind: .released)
                : JobStore.Outcome(id: job.id, lease: token, kind: .cancelled, error: "cancellation was requested")
        }
        switch result {
        case .returned(let json):
            return JobStore.Outcome(id: job.id, lease: token, kind: .done, resultJSON: json)
        case .cancelRequested:
            return stopped()
        case .threw(let snooze as JobSnooze):
            return JobStore.Outcome(id: job.id, lease: token, kind: .snoozed, error: snooze.description, delay: snooze.delay)
        case .threw(let error):
            // A job that threw because it was told to stop was stopped, not failed.
            return flags?.signal.isFired == true ? stopped() : failure(JobService.describe(error))
        case .timedOut(let timeout):
            return failure("timed out after \(timeout)")
        case .leaseLost:
            return nil
        }
    }

    // MARK: - Writing outcomes

    private func writeLoop() async {
        while !Task.isCancelled {
            await self.writeWake.wait(timeout: .seconds(1))
            await self.writePending()
        }
    }

    /// Writes every queued outcome in one statement; on failure, keeps them for the next try.
    func writePending() async {
        let batch = self.state.withLock { state in
            defer { state.outcomes.removeAll(keepingCapacity: true) }
            if !state.outcomes.isEmpty { state.writesInFlight += 1 }
            return state.outcomes
        }
        guard !batch.isEmpty else { return }
        defer {
            self.state.withLock { $0.writesInFlight -= 1 }
            self.writeEnded.signal()
        }
        do {
            let written = try await self.service.store.finish(batch.map(\.outcome))
            for finished in batch where written.contains(finished.outcome.id) {
                self.recordWritten(finished)
            }
            // A written outcome frees room under its queue's fleet-wide limits (a key's or the
            // queue's running count): after a claim that came back short, claim again.
            let claimsAgain = self.state.withLock { state in
                guard !state.mayHaveMore, batch.contains(where: { finished in state.limitedQueues.queues.contains { $0.name == finished.queue } }) else { return false }
                state.mayHaveMore = true
                return true
            }
            if claimsAgain { self.claimWake.signal() }
            if written.count < batch.count {
                let lost = batch.filter { !written.contains($0.outcome.id) }.map(\.outcome.id)
                self.logger.info("Outcomes refused: the jobs' leases were lost", metadata: ["jobkit.job.ids": "\(lost)"])
            }
        } catch {
            self.logger.info("Writing outcomes failed; retrying", metadata: ["jobkit.error": "\(error)"])
            self.state.withLock { $0.outcomes.insert(contentsOf: batch, at: 0) }
            if !Task.isCancelled { try? await Task.sleep(for: .milliseconds(100)) }
        }
    }

    /// Writes the outcomes still queued at shutdown, even if the task is being cancelled.
    ///
    /// It also waits for a batch the write loop has in flight: `run()` cancels that loop next, and
    /// a statement cancelled there would put its outcomes back in the queue after this returned,
    /// where nobody would write them (a released job would stay leased to a stopped worker).
    func flushRemaining() async {
        // A task of its own: the final outcomes must be written even when run() was cancelled.
        await Task {
            var attempts = 0
            while attempts < 50 {
                let (isQueued, isWriting) = self.state.withLock { (!$0.outcomes.isEmpty, $0.writesInFlight > 0) }
                if isQueued {
                    attempts += 1
                    await self.writePending()
                } else if isWriting {
                    await self.writeEnded.wait(timeout: .milliseconds(100))
                } else {
                    return
                }
            }
        }.value
    }

    // MARK: - Background loops

    private func listen(to listener: PostgresListener) async {
        await withDiscardingTaskGroup { group in
            group.addTask {
                for await event in listener.events(on: self.service.store.enqueuedChannel) {
                    if case .notification(let notification) = event, !self.configuration.queues.contains(notification.payload) { continue }
                    self.state.withLock { state in
                        state.mayHaveMore = true
                        state.limitsMayHaveChanged = true
                    }
                    self.claimWake.signal()
                }
            }
            group.addTask {
                for await event in listener.events(on: self.service.store.cancelChannel) {
                    guard case .notification(let notification) = event, let id = UUID(uuidString: notification.payload) else { continue }
                    self.state.withLock { $0.running[id]?.signal }?.fire()
                }
            }
        }
    }

    func heartbeatLoop() async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: self.service.configuration.heartbeatInterval) } catch { return }
            do {
                try await self.heartbeatWorker()
            } catch {
                if !Task.isCancelled { self.logger.info("Worker heartbeat failed", metadata: ["jobkit.error": "\(error)"]) }
            }
            let leases = self.state.withLock { $0.running.map { (id: $0.key, token: $0.value.token) } }
            guard !leases.isEmpty else { continue }
            do {
                let held = try await self.service.store.renew(leases, duration: self.service.configuration.leaseDuration)
                let signals = self.state.withLock { state -> [CancelSignal] in
                    var fire: [CancelSignal] = []
                    for lease in leases {
                        guard var running = state.running[lease.id] else { continue }
                        if let cancelRequested = held[lease.id] {
                            if cancelRequested { fire.append(running.signal) }
                        } else {
                            running.isLeaseLost = true
                            state.running[lease.id] = running
                            fire.append(running.signal)
                        }
                    }
                    return fire
                }
                signals.forEach { $0.fire() }
            } catch {
                if !Task.isCancelled { self.logger.info("Lease renewal failed; retrying at the next heartbeat", metadata: ["jobkit.error": "\(error)"]) }
            }
        }
    }

    private func rescueLoop() async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: self.configuration.rescueInterval) } catch { return }
            do {
                if try await self.service.store.rescue(policies: self.service.configuration.stuckJobPolicies).total > 0 {
                    self.state.withLock { $0.mayHaveMore = true }
                    self.claimWake.signal()
                }
            } catch {
                if !Task.isCancelled { self.logger.info("Rescuing expired leases failed", metadata: ["jobkit.error": "\(error)"]) }
            }
        }
    }
}

/// Numbers the executors of a process, for their default identities: two executors, or an
/// executor and the `runAsJob` calls of its service, never share a lease owner, so neither
/// takes the other's running jobs back at start.
private let executorNumbers = ExecutorNumbers()

private final class ExecutorNumbers: Sendable {
    private let last = Mutex(0)

    func next() -> Int {
        self.last.withLock { last in
            last += 1
            return last
        }
    }
}
