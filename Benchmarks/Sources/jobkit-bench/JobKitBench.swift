import ArgumentParser
import Foundation
import JobKit
import LibPQ

/// `jobkit-bench`: runs one of the shared job-queue workloads (A, B, C, S) against JobKit and
/// prints one JSON line, as the peer scripts in `peers/` do.
///
/// ```
/// jobkit-bench --workload B --dsn postgresql://postgres@127.0.0.1:5432/fresh_db --run 1
/// {"jobs_per_sec":…,"n":20000,"peer":"jobkit","run":"1","seconds":…,"variant":"default","workload":"B",…}
/// ```
@main
struct JobKitBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobkit-bench",
        abstract: "Runs one job-queue workload (A, B, C or S) against JobKit and prints one JSON line.",
        discussion: """
            A: enqueue N jobs in one enqueueMany call (timed, payloads built inside the timing).
            B: N jobs pre-enqueued (untimed); one executor at --concurrency drains them; the clock
               stops when the handler has run N times and a separate connection sees no
               scheduled or in_progress job. With --schedules N, a JobScheduler registers and leads
               N hourly schedules (into another queue) while the executor drains.
            C: an executor at --concurrency idles 1.5 s; N jobs are then enqueued one at a time on
               an absolute --interval-ms schedule; latency = handler start - payload ts.
            S: N jobs enqueued one enqueue call at a time, sequentially.
            The database must be fresh: the schema is installed first (untimed). Exactly one JSON
            line with sorted keys goes to stdout; logs go to stderr.
            """
    )

    enum Workload: String, CaseIterable, ExpressibleByArgument {
        case A, B, C, S
        /// Issue 4's benchmark: `runAsJob` around an empty closure, and create/start/complete by hand.
        case R, M
        /// Issue 6's benchmark: `stats()` and `health()` on a table of N jobs, mostly finished.
        case T
    }

    @Option(help: "The workload: A, B, C or S; R (runAsJob overhead), M (create/start/complete by hand) or T (stats and health on N rows).")
    var workload: Workload

    @Option(help: "A libpq URL of a FRESH database.")
    var dsn: String

    @Option(help: "Jobs (default: 20000 for A and B, 200 for C, 2000 for S).")
    var n: Int?

    @Option(help: "The executor's concurrency for B and C (JobKit's default is 10).")
    var concurrency: Int = 10

    @Option(name: .customLong("interval-ms"), help: "C: milliseconds between enqueues, on an absolute schedule.")
    var intervalMs: Double = 20

    @Option(name: .customLong("run"), help: "A label for this run, copied into the JSON.")
    var runLabel: String = "0"

    @Option(help: "A label for the settings of this run, copied into the JSON.")
    var variant: String = "default"

    @Option(name: .customLong("pool-connections"), help: "The pool's maximumConnections (default: JobKit's default, 10).")
    var poolConnections: Int?

    @Option(name: .customLong("statement-cache"), help: "Statements each connection keeps prepared (PostgresConfiguration.statementCacheCapacity; 0 prepares none).")
    var statementCache: Int?

    @Flag(name: .customLong("poll-only"), help: "B and C: the executor polls instead of listening (usesNotifications: false; not the default).")
    var pollOnly = false

    @Option(name: .customLong("key-limit"), help: "B: give the queue a fleet-wide per-key limit of N (QueueSettings.keyLimit; the jobs spread over --keys keys).")
    var keyLimit: Int?

    @Option(help: "B: spread the jobs over N concurrency keys (default 100 with --key-limit). Without --key-limit: the same jobs with no limit, the control for what the limit costs.")
    var keys: Int?

    @Option(name: .customLong("poll-interval-ms"), help: "B and C: the executor's pollInterval in ms (default: JobKit's default, 1000).")
    var pollIntervalMs: Int?

    enum Observability: String, CaseIterable, ExpressibleByArgument {
        case none, metrics, tracing, all
    }

    @Option(help: "Stand-in backends for JobKit's metrics and spans: none (JobKit's no-op defaults), metrics, tracing or all.")
    var observability: Observability = .none
    @Option(help: "B: register this many hourly schedules (spread over the hour) and run a JobScheduler while draining.")
    var schedules: Int = 0

    var count: Int {
        if let n { return n }
        switch self.workload {
        case .A, .B: return 20_000
        case .C: return 200
        case .S, .R, .M: return 2_000
        case .T: return 1_000_000
        }
    }

    func validate() throws {
        if let n, n < 1 { throw ValidationError("--n must be at least 1, got \(n)") }
        guard self.concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
        guard self.intervalMs >= 0 else { throw ValidationError("--interval-ms must not be negative") }
        if let poolConnections, poolConnections < 1 { throw ValidationError("--pool-connections must be at least 1") }
        if let pollIntervalMs, pollIntervalMs < 1 { throw ValidationError("--poll-interval-ms must be at least 1") }
        if let keyLimit, keyLimit < 1 { throw ValidationError("--key-limit must be at least 1") }
        if let statementCache, statementCache < 0 { throw ValidationError("--statement-cache must not be negative") }
        if let keys, keys < 1 { throw ValidationError("--keys must be at least 1") }
        guard self.schedules >= 0 else { throw ValidationError("--schedules must not be negative") }
    }

    func run() async throws {
        var connection = PostgresConfiguration(self.dsn, applicationName: "jobkit-bench")
        if let statementCache = self.statementCache { connection.statementCacheCapacity = statementCache }
        let pool = self.poolConnections.map {
            PostgresConnectionPool(connection: connection, configuration: .init(maximumConnections: $0))
        } ?? PostgresConnectionPool(connection: connection)
        var serviceConfiguration = JobService.Configuration()
        if self.observability == .metrics || self.observability == .all {
            serviceConfiguration.metricsFactory = BenchObservability.Metrics()
        }
        if self.observability == .tracing || self.observability == .all {
            serviceConfiguration.tracer = BenchObservability.Tracer()
        }
        let jobs = JobService(pool: pool, configuration: serviceConfiguration)
        // A separate connection, outside the pool: set-up checks and B's "nothing unfinished".
        let observer = try await PostgresConnection.connect(to: PostgresConfiguration(self.dsn, applicationName: "jobkit-bench-observer"))

        var report = Report()
        let outcome: Result<Report, any Error>
        do {
            try await jobs.migrate()
            report["server_fsync"] = try await Self.show("fsync", on: observer)
            report["server_synchronous_commit"] = try await Self.show("synchronous_commit", on: observer)
            var executorConfiguration = JobExecutor.Configuration(concurrency: self.concurrency)
            if self.pollOnly { executorConfiguration.usesNotifications = false }
            if let pollIntervalMs { executorConfiguration.pollInterval = .milliseconds(pollIntervalMs) }
            var workloads = Workloads(
                jobs: jobs, observer: observer, n: self.count, executorConfiguration: executorConfiguration, intervalMs: self.intervalMs,
                keyLimit: self.keyLimit, keys: self.keys ?? (self.keyLimit == nil ? nil : 100))
            workloads.schedules = self.schedules
            Log.info("workload \(self.workload.rawValue), n \(self.count), run \(self.runLabel), variant \(self.variant)")
            switch self.workload {
            case .A: outcome = .success(try await workloads.bulkEnqueue())
            case .B: outcome = .success(try await workloads.drain())
            case .C: outcome = .success(try await workloads.latency())
            case .S: outcome = .success(try await workloads.singleEnqueue())
            case .R: outcome = .success(try await workloads.runAsJobOverhead())
            case .M: outcome = .success(try await workloads.manualLifecycle())
            case .T: outcome = .success(try await workloads.statsAndHealth())
            }
        } catch {
            outcome = .failure(error)
        }
        await observer.close()
        await pool.close()

        switch outcome {
        case .success(let measured):
            report.merge(measured)
        case .failure(let error):
            Log.info("failed: \(String(reflecting: error))")
            throw ExitCode.failure
        }
        report["peer"] = "jobkit"
        report["workload"] = self.workload.rawValue
        report["run"] = self.runLabel
        report["variant"] = self.variant
        report["n"] = self.count
        report["pool_max_connections"] = pool.configuration.maximumConnections
        report["observability"] = self.observability.rawValue
        try report.emit()
    }

    private static func show(_ setting: String, on connection: PostgresConnection) async throws -> String {
        let rows = try await connection.query("SELECT current_setting(\(setting))")
        return try rows.first?.decode(String.self, at: 0) ?? "?"
    }
}
