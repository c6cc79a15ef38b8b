import Foundation
import LibPQ
import Logging
import Metrics
import ServiceLifecycle
import Synchronization
import Tracing

/// Tracks jobs in PostgreSQL: creates them, moves them through their lifecycle, runs async
/// functions as jobs, and lets anyone observe or cancel them from any process.
///
/// ```swift
/// let pool = PostgresConnectionPool(connection: .init("postgresql://localhost/app"))
/// let jobs = JobService(pool: pool)
/// try await jobs.migrate()
/// let text = try await jobs.runAsJob("ocr", reference: JobReference("document", document.id), payload: document) { job in
///     try await job.progress(40, step: "pages")
///     return try await recognize(document)
/// }
/// ```
///
/// > Warning: Run the service (it is a swift-service-lifecycle `Service`) for notifications
/// > to arrive at once: remote cancellation of ``runAsJob(_:reference:payload:options:_:)`` and
/// > ``updates(of:)`` then react within milliseconds. Without it they fall back to polling
/// > (every heartbeat for cancellation, every ``Configuration/pollInterval`` for updates).
public actor JobService: Service {
    /// How a service names itself, holds leases and polls.
    public struct Configuration: Sendable {
        /// The schema JobKit's tables live in. Defaults to `"jobkit"`. Lower-case letters,
        /// digits and `_` only.
        public var schema: String
        /// This process's identity as a lease owner. Defaults to `host:pid`. A process that
        /// restarts with the same identity takes back its own orphaned jobs.
        public var workerID: String
        /// How long a lease lasts without renewal. Defaults to 30 seconds.
        public var leaseDuration: Duration
        /// How often running jobs renew their leases and check for cancellation. Defaults to
        /// 10 seconds; must be shorter than ``leaseDuration``.
        public var heartbeatInterval: Duration
        /// How often observers re-read a job when notifications may be missing. Defaults to 1 second.
        public var pollInterval: Duration
        /// Where the `jobkit.*` counters, timers and meters go (for this service and the executors
        /// over it). Defaults to `MetricsSystem.factory` as bootstrapped when the configuration is
        /// made: bootstrap first. Documentation/Observability.md lists the metrics.
        public var metricsFactory: any MetricsFactory
        /// Where spans go (for this service and the executors over it). Defaults to
        /// `InstrumentationSystem.tracer` as bootstrapped when the configuration is made; with the
        /// no-op tracer JobKit starts no span and stores no trace context.
        public var tracer: any Tracer
        /// Whether this process may LISTEN. Defaults to `true`. `false` (poll-only mode, for
        /// PgBouncer in transaction pooling, where LISTEN does not work) opens no listening
        /// connection: ``JobService/run()`` only waits for shutdown, ``JobService/updates(of:)``
        /// re-reads its job every ``pollInterval``, remote cancellation reaches running jobs at their
        /// next heartbeat, and no ``JobExecutor`` of this service listens, whatever its own setting.
        /// Enqueueing still sends its NOTIFY, which works through any pooler.
        public var usesNotifications: Bool
        /// When ``JobService/health(workerTimeout:)`` calls the jobs table bloated or its indexes
        /// unfit for the claim. Defaults to ``JobHealth/Thresholds/init(maximumDeadTupleRatio:minimumDeadTuples:maximumVacuumAge:maximumClaimIndexBytesPerJob:minimumClaimIndexBytes:)``'s defaults.
        public var healthThresholds: JobHealth.Thresholds
        /// What recovery does with each job type's stuck jobs (running, lease expired): the
        /// executors' own recovery, ``MaintenanceService``, ``JobService/recoverStuckJobs(policies:)``
        /// and the admin API's recover-stuck all apply these, so a stuck job ends the same way
        /// whichever finds it first. Types not listed use ``StuckJobPolicy/byProgress``. Defaults to none.
        public var stuckJobPolicies: [String: StuckJobPolicy]

        /// Creates a configuration; every parameter has a default.
        /// - Parameters:
        ///   - schema: The schema of JobKit's tables: lower-case letters, digits and `_`. Defaults to `"jobkit"`.
        ///   - workerID: This process's identity as a lease owner. Defaults to `host:pid`.
        ///   - leaseDuration: How long a lease lasts without renewal. Defaults to 30 seconds.
        ///   - heartbeatInterval: How often leases are renewed; shorter than `leaseDuration`. Defaults to 10 seconds.
        ///   - pollInterval: How often observers re-read a job. Defaults to 1 second.
        ///   - metricsFactory: Where JobKit's metrics go. Defaults to the global `MetricsSystem`.
        ///   - tracer: Where JobKit's spans go. Defaults to the global `InstrumentationSystem`.
        ///   - usesNotifications: Whether this service and its executors LISTEN. Defaults to `true`.
        ///   - healthThresholds: When health calls the table bloated. Defaults to the thresholds' defaults.
        ///   - stuckJobPolicies: Per job type; types not listed use ``StuckJobPolicy/byProgress``. Defaults to none.
        public init(
            schema: String = "jobkit",
            workerID: String = Configuration.defaultWorkerID,
            leaseDuration: Duration = .seconds(30),
            heartbeatInterval: Duration = .seconds(10),
            pollInterval: Duration = .seconds(1),
            metricsFactory: any MetricsFactory = MetricsSystem.factory,
            tracer: any Tracer = InstrumentationSystem.tracer,
            usesNotifications: Bool = true,
            healthThresholds: JobHealth.Thresholds = .init(),
            stuckJobPolicies: [String: StuckJobPolicy] = [:]
        ) {
            precondition(SchemaName.isValid(schema), "schema must be a lower-case identifier, not \(schema)")
            precondition(heartbeatInterval < leaseDuration, "heartbeatInterval must be shorter than leaseDuration")
            precondition(heartbeatInterval > .zero && pollInterval > .zero, "intervals must be positive")
            self.schema = schema
            self.workerID = workerID
            self.leaseDuration = leaseDuration
            self.heartbeatInterval = heartbeatInterval
            self.pollInterval = pollInterval
            self.metricsFactory = metricsFactory
            self.tracer = tracer
            self.usesNotifications = usesNotifications
            self.healthThresholds = healthThresholds
            self.stuckJobPolicies = stuckJobPolicies
        }

        /// `host:pid` of this process.
        public static var defaultWorkerID: String {
            "\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier)"
        }
    }

    /// The service's settings.
    public nonisolated let configuration: Configuration
    /// The connection pool it uses.
    public nonisolated let pool: PostgresConnectionPool
    let store: JobStore
    let logger: Logger
    let listener: PostgresListener
    /// The `jobkit.*` metrics, over ``Configuration/metricsFactory``.
    nonisolated let metrics: JobMetrics
    /// Spans and trace context, over ``Configuration/tracer``.
    nonisolated let tracing: JobTracing
    /// Cancellation signals of the jobs this process runs with ``runAsJob(_:reference:payload:options:_:)``.
    nonisolated let localRuns = Mutex<[UUID: CancelSignal]>([:])

    /// Creates a service over a pool.
    /// - Parameters:
    ///   - pool: The database.
    ///   - configuration: Schema, identity, leases. Defaults to `.init()`.
    ///   - logger: Receives `debug` lifecycle entries with `jobkit.job.id`, `jobkit.job.type`,
    ///     `jobkit.job.attempt` and `jobkit.job.queue`.
    public init(pool: PostgresConnectionPool, configuration: Configuration = .init(), logger: Logger = JobKitLogging.noop) {
        self.pool = pool
        self.configuration = configuration
        self.logger = logger
        self.metrics = JobMetrics(factory: configuration.metricsFactory)
        self.tracing = JobTracing(tracer: configuration.tracer)
        self.store = JobStore(pool: pool, schema: configuration.schema)
        self.listener = PostgresListener(configuration: pool.connectionConfiguration, logger: logger)
    }

    // MARK: - Service

    /// Listens for cancellation requests and changes until cancelled or shut down gracefully.
    ///
    /// With ``Configuration/usesNotifications`` `false` it opens no connection and only waits.
    /// - Throws: Nothing in practice: a lost listener connection is reopened, and cancellation or graceful
    ///   shutdown ends the call normally.
    public func run() async throws {
        guard self.configuration.usesNotifications else {
            try? await gracefulShutdown()
            return
        }
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await self.listener.run() }
            group.addTask {
                for await event in self.listener.events(on: self.store.cancelChannel) {
                    guard case .notification(let notification) = event, let id = UUID(uuidString: notification.payload) else { continue }
                    self.localRuns.withLock { $0[id] }?.fire()
                }
            }
            try? await gracefulShutdown()
            group.cancelAll()
        }
    }

    // MARK: - Schema

    /// Applies pending schema migrations (safe to call from many processes at once).
    /// - Returns: The versions this call applied.
    /// - Throws: ``PostgresError``.
    @discardableResult
    public nonisolated func migrate() async throws -> [Int] {
        try await Migrator(pool: self.pool, schema: self.configuration.schema, logger: self.logger).migrateUp()
    }

    // MARK: - Creating

    /// Creates a `scheduled` job.
    /// - Parameters:
    ///   - type: The job's type name, such as `"ocr"`.
    ///   - payload: Its input, stored as JSON.
    ///   - options: Queue, priority, run-at, attempts, timeout, reference, unique key.
    /// - Returns: The new job.
    /// - Throws: ``JobError`` `.invalidArgument`, `.payloadEncoding`, `.duplicate`; ``PostgresError``.
    public nonisolated func create(_ type: String, payload: some Encodable & Sendable = EmptyPayload(), options: JobOptions = .init()) async throws -> Job {
        var new = try self.newJob(type, payload: payload, options: options)
        let job = try await self.tracing.withEnqueueSpan(type: type, queue: options.queue, count: 1, id: new.id) { traceContext in
            new.traceContextJSON = traceContext
            return try await self.store.insert(new)
        }
        self.metrics.recordEnqueued(queue: job.queue, type: job.type)
        return job
    }

    /// Returns the job with `uniqueKey`, creating it (race-safely) if there is none.
    /// - Parameters:
    ///   - uniqueKey: The idempotency key.
    ///   - type: The job's type name.
    ///   - payload: Its input, used only when the job is created.
    ///   - options: Used only when the job is created; its `uniqueKey` is replaced by `uniqueKey`.
    /// - Returns: The job and whether this call created it.
    /// - Throws: ``JobError`` `.invalidArgument`, `.payloadEncoding`; ``PostgresError``.
    public nonisolated func getOrCreate(
        uniqueKey: String,
        type: String,
        payload: some Encodable & Sendable = EmptyPayload(),
        options: JobOptions = .init()
    ) async throws -> (job: Job, created: Bool) {
        var options = options
        options.uniqueKey = uniqueKey
        var new = try self.newJob(type, payload: payload, options: options)
        let result = try await self.tracing.withEnqueueSpan(type: type, queue: options.queue, count: 1, id: new.id) { traceContext in
            new.traceContextJSON = traceContext
            return try await self.store.insertOrGet(new, uniqueKey: uniqueKey)
        }
        if result.created { self.metrics.recordEnqueued(queue: result.job.queue, type: result.job.type) }
        return result
    }

    nonisolated func newJob(_ type: String, payload: some Encodable, options: JobOptions, isEnqueued: Bool = false) throws(JobError) -> JobStore.NewJob {
        guard !type.isEmpty else { throw .invalidArgument("the job type is empty") }
        try options.validate()
        if options.unique != nil, !isEnqueued {
            throw .invalidArgument("unique applies to enqueued jobs; make creation idempotent with uniqueKey")
        }
        return JobStore.NewJob(id: .v7(), type: type, payloadJSON: try JobJSON.encode(payload), options: options)
    }

    // MARK: - Reading

    /// The job with `id`.
    /// - Parameter id: The job.
    /// - Returns: The job as stored now.
    /// - Throws: ``JobError/Code/notFound``; ``PostgresError``.
    public nonisolated func job(_ id: UUID) async throws -> Job {
        guard let job = try await self.store.job(id) else { throw JobError.notFound(id) }
        return job
    }

    /// The job with `uniqueKey`, if any.
    /// - Parameter uniqueKey: The key given at creation.
    /// - Returns: The job, or `nil` when no job has the key.
    /// - Throws: ``PostgresError``.
    public nonisolated func job(uniqueKey: String) async throws -> Job? {
        try await self.store.job(uniqueKey: uniqueKey)
    }

    /// Whether the job can never change again (done or cancelled).
    /// - Parameter id: The job.
    /// - Returns: `true` for `done` and `cancelled`; `false` otherwise, `failed` included.
    /// - Throws: ``JobError/Code/notFound``; ``PostgresError``.
    public nonisolated func isTerminal(_ id: UUID) async throws -> Bool {
        try await self.job(id).isTerminal
    }

    /// Lists jobs, newest first.
    /// - Parameters:
    ///   - filter: Which jobs. Defaults to all.
    ///   - limit: At most this many, 1...1000. Defaults to 50.
    ///   - cursor: The previous page's ``JobPage/nextCursor``, or `nil` for the first page.
    /// - Returns: The page.
    /// - Throws: ``JobError/Code/invalidArgument`` for a limit out of range; ``PostgresError``.
    public nonisolated func list(_ filter: JobFilter = .init(), limit: Int = 50, after cursor: UUID? = nil) async throws -> JobPage {
        guard (1...1000).contains(limit) else { throw JobError.invalidArgument("limit must be within 1...1000, not \(limit)") }
        let jobs = try await self.store.list(filter, limit: limit, after: cursor)
        return JobPage(jobs: jobs, nextCursor: jobs.count == limit ? jobs.last?.id : nil)
    }

    /// The job's history: failures, retries, cancellations, operator actions, oldest first.
    /// - Parameter id: The job.
    /// - Returns: The entries, oldest first; empty for a job that simply ran and succeeded.
    /// - Throws: ``JobError/Code/notFound``; ``PostgresError``.
    public nonisolated func history(of id: UUID) async throws -> [JobEvent] {
        let events = try await self.store.history(id)
        if events.isEmpty { _ = try await self.job(id) }
        return events
    }

    /// Runs `body` on the job's row held with `SELECT … FOR UPDATE`, inside one transaction.
    ///
    /// Use the connection it is given for further statements: they join the transaction,
    /// which commits when `body` returns and rolls back when it throws.
    /// - Parameters:
    ///   - id: The job.
    ///   - body: The work, given the locked job and the transaction's connection.
    /// - Returns: What `body` returned.
    /// - Throws: ``JobError/Code/notFound``, what `body` threw, ``PostgresError``.
    public nonisolated func withJobLock<Result: Sendable>(
        _ id: UUID,
        _ body: @Sendable (Job, PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await self.pool.withTransaction { connection in
            guard let job = try await self.store.lockedJob(id, on: connection) else { throw JobError.notFound(id) }
            return try await body(job, connection)
        }
    }

    // MARK: - Retention

    /// Deletes finished jobs older than `age`, in batches so no lock is held for long.
    /// - Parameters:
    ///   - age: How long ago they must have finished.
    ///   - statuses: Which finished statuses to delete. Defaults to done, failed and cancelled.
    ///   - batchSize: Rows per `DELETE`. Defaults to 1,000.
    /// - Returns: How many jobs were deleted (their history goes with them).
    /// - Throws: ``JobError/Code/invalidArgument``; ``PostgresError``.
    @discardableResult
    public nonisolated func cleanup(olderThan age: Duration, statuses: [JobStatus] = [.done, .failed, .cancelled], batchSize: Int = 1000) async throws -> Int {
        guard batchSize >= 1 else { throw JobError.invalidArgument("batchSize must be at least 1") }
        guard age >= .zero else { throw JobError.invalidArgument("the age must not be negative") }
        guard statuses.allSatisfy(\.isFinished) else { throw JobError.invalidArgument("only finished jobs can be cleaned up") }
        return try await self.store.deleteFinished(olderThan: age, statuses: statuses, batchSize: batchSize)
    }
}
