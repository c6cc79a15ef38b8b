import Foundation
import JobKit
import LibPQ
import Logging
import ServiceLifecycle

/// A JobKit worker process for the multi-process tests (`MultiProcessTests`): they start it,
/// kill it and start it again, then read what it did from the database.
///
/// ```
/// jobkit-test-worker --database-url URL --worker-id ID --concurrency N --mode drain|block|schedule
///     [--executors 1] [--lease-ms 1000] [--heartbeat-ms 300] [--rescue-ms 300] [--poll-ms 1000]
///     [--grace-ms 30000] [--pool-size 10] [--finish-blocked] [--exit-with-parent] [--log-level info]
///     [--cron "* * * * * *"] [--scheduler-poll-ms 200] [--no-leader-election]
/// ```
///
/// - `drain` runs `mp.count` jobs (payload `{"n": Int}`): each run inserts `(job_id, worker_id)`
///   into `mp_runs` and returns.
/// - `block` runs `mp.block` jobs: each run inserts `(job_id, worker_id)` into `mp_runs`, then
///   sleeps 10 minutes (so a test can kill the process mid-job), or, with `--finish-blocked`,
///   returns at once. Each mode registers only its own handler.
/// - `schedule` runs a ``JobScheduler`` with one schedule, `mp-tick` on `--cron` (every second by
///   default), and executors for its `mp.tick` jobs, which record their runs as `drain` does.
///   With `--no-leader-election` every such process enqueues ticks, as if each believed it led.
///
/// It prints `ready` on stdout once the database answered and the executors were started, and
/// exits 0 after a graceful shutdown on SIGTERM (SIGINT cancels). With `--exit-with-parent` it
/// exits (status 3) when its standard input closes, so a test process that dies does not leave
/// a worker sleeping for 10 minutes.
enum WorkerMain {
    static func main() async {
        let options: Options
        do {
            options = try Options(CommandLine.arguments.dropFirst())
        } catch {
            FileHandle.standardError.write(Data("jobkit-test-worker: \(error)\n\(Options.usage)\n".utf8))
            exit(2)
        }
        do {
            try await self.run(options)
            exit(0)
        } catch {
            FileHandle.standardError.write(Data("jobkit-test-worker: \(error)\n".utf8))
            exit(1)
        }
    }

    static func run(_ options: Options) async throws {
        var logger = Logger(label: "jobkit-test-worker") { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = options.logLevel
            return handler
        }
        logger[metadataKey: "jobkit.worker.id"] = "\(options.workerID)"
        if options.exitsWithParent { ParentWatch.start() }

        let pool = PostgresConnectionPool(
            connection: PostgresConfiguration(options.databaseURL, applicationName: "jobkit-test-worker \(options.workerID)"),
            configuration: .init(maximumConnections: options.poolSize))
        let jobs = JobService(
            pool: pool,
            configuration: .init(
                workerID: options.workerID, leaseDuration: options.leaseDuration, heartbeatInterval: options.heartbeatInterval),
            logger: logger)
        // Idempotent (under an advisory lock); it also proves the database answers before `ready`.
        try await jobs.migrate()

        let workerIDs = options.executors == 1 ? [options.workerID] : (0..<options.executors).map { "\(options.workerID)-\(Self.suffix($0))" }
        let executors = workerIDs.map { workerID in
            let handler: any JobHandler = switch options.mode {
            case .drain: CountHandler(pool: pool, workerID: workerID, duration: options.jobDuration)
            case .block: BlockHandler(pool: pool, workerID: workerID, finishesAtOnce: options.finishesBlocked)
            case .schedule: TickHandler(pool: pool, workerID: workerID)
            }
            return JobExecutor(
                service: jobs,
                handlers: [handler],
                configuration: .init(
                    concurrency: options.concurrency, pollInterval: options.pollInterval,
                    shutdownGracePeriod: options.gracePeriod, rescueInterval: options.rescueInterval, workerID: workerID),
                logger: logger)
        }
        // Shutdown runs in reverse order: the executors stop (and release their jobs) before the service.
        var services: [any Service] = [jobs]
        services += executors.map { $0 as any Service }
        if options.mode == .schedule {
            let schedule = try JobSchedule(TickHandler.scheduleName, TickHandler.self, payload: EmptyPayload(), cron: options.cron)
            services.append(JobScheduler(
                service: jobs, schedules: [schedule],
                configuration: .init(pollInterval: options.schedulerPollInterval, electsLeader: options.electsLeader),
                logger: logger))
        }
        services.append(ReadySignal())
        let group = ServiceGroup(
            services: services,
            gracefulShutdownSignals: [.sigterm],
            cancellationSignals: [.sigint],
            logger: logger)
        do {
            try await group.run()
        } catch {
            await pool.close()
            throw error
        }
        await pool.close()
        logger.debug("Worker stopped")
    }

    /// `a`, `b`, … for the executors of one process.
    static func suffix(_ index: Int) -> String {
        String(UnicodeScalar(UInt8(ascii: "a") + UInt8(index % 26)))
    }
}

// MARK: - Handlers

/// Records `(job_id, worker_id)` in `mp_runs`: the side effect the tests count.
func recordRun(of jobID: UUID, by workerID: String, on pool: PostgresConnectionPool) async throws {
    try await pool.query("INSERT INTO mp_runs (job_id, worker_id) VALUES (\(jobID), \(workerID))")
}

/// `mp.count`: records the run, works for `duration` (`--job-ms`, default none) and returns.
struct CountHandler: JobHandler {
    struct Payload: Codable, Sendable { var n: Int }
    static let type = "mp.count"
    let pool: PostgresConnectionPool
    let workerID: String
    let duration: Duration

    func run(_ payload: Payload, context: JobContext) async throws -> EmptyPayload {
        try await recordRun(of: context.id, by: self.workerID, on: self.pool)
        if self.duration > .zero {
            // A job body may sleep to simulate work.
            try await Task.sleep(for: self.duration)
        }
        return EmptyPayload()
    }
}

/// `mp.block`: records that it started, then sleeps 10 minutes (or returns at once).
struct BlockHandler: JobHandler {
    typealias Payload = EmptyPayload
    static let type = "mp.block"
    static let retryPolicy = RetryPolicy(maxAttempts: 3)
    let pool: PostgresConnectionPool
    let workerID: String
    let finishesAtOnce: Bool

    func run(_ payload: EmptyPayload, context: JobContext) async throws -> EmptyPayload {
        try await recordRun(of: context.id, by: self.workerID, on: self.pool)
        if !self.finishesAtOnce {
            // A job body may sleep to simulate work: this one waits to be killed or released.
            try await Task.sleep(for: .seconds(600))
        }
        return EmptyPayload()
    }
}

/// `mp.tick`: the job of the `mp-tick` schedule; records the run and returns.
struct TickHandler: JobHandler {
    typealias Payload = EmptyPayload
    static let type = "mp.tick"
    static let scheduleName = "mp-tick"
    let pool: PostgresConnectionPool
    let workerID: String

    func run(_ payload: EmptyPayload, context: JobContext) async throws -> EmptyPayload {
        try await recordRun(of: context.id, by: self.workerID, on: self.pool)
        return EmptyPayload()
    }
}

// MARK: - Readiness

/// Prints `ready` when the service group runs, then waits for shutdown.
struct ReadySignal: Service {
    func run() async throws {
        // Unbuffered: the test reads this line while the process keeps running.
        FileHandle.standardOutput.write(Data("ready\n".utf8))
        try? await gracefulShutdown()
    }
}

// MARK: - Parent watch

/// Ends the process when its standard input closes: the test holds the other end of that
/// pipe, and the kernel closes it when the test process dies, however it dies.
enum ParentWatch {
    static func start() {
        // A thread of its own: `read` blocks, and blocking calls stay off the cooperative pool.
        let thread = Thread {
            var buffer = [UInt8](repeating: 0, count: 64)
            while true {
                let count = read(STDIN_FILENO, &buffer, buffer.count)
                if count == 0 || (count < 0 && errno != EINTR) { break }
            }
            FileHandle.standardError.write(Data("jobkit-test-worker: standard input closed; exiting\n".utf8))
            exit(3)
        }
        thread.start()
    }
}

// MARK: - Options

struct Options: Sendable {
    enum Mode: String, Sendable { case drain, block, schedule }

    struct UsageError: Error, CustomStringConvertible {
        var description: String
    }

    var databaseURL = ""
    var workerID = ""
    var concurrency = 1
    var mode = Mode.drain
    var executors = 1
    var leaseDuration = Duration.milliseconds(1000)
    var heartbeatInterval = Duration.milliseconds(300)
    var rescueInterval = Duration.milliseconds(300)
    var pollInterval = Duration.milliseconds(1000)
    var gracePeriod = Duration.seconds(30)
    var poolSize = 10
    var finishesBlocked = false
    var jobDuration = Duration.zero
    var exitsWithParent = false
    var logLevel = Logger.Level.info
    var cron = "* * * * * *"
    var schedulerPollInterval = Duration.milliseconds(200)
    var electsLeader = true

    static let usage = """
        usage: jobkit-test-worker --database-url URL --worker-id ID --concurrency N --mode drain|block|schedule
               [--executors N] [--lease-ms MS] [--heartbeat-ms MS] [--rescue-ms MS] [--poll-ms MS]
               [--grace-ms MS] [--pool-size N] [--job-ms MS] [--finish-blocked] [--exit-with-parent] [--log-level LEVEL]
               [--cron EXPRESSION] [--scheduler-poll-ms MS] [--no-leader-election]
        """

    init(_ arguments: some Collection<String>) throws {
        var remaining = Array(arguments)[...]
        func value(_ flag: String) throws -> String {
            guard let value = remaining.popFirst() else { throw UsageError(description: "\(flag) needs a value") }
            return value
        }
        func number(_ flag: String, minimum: Int) throws -> Int {
            let text = try value(flag)
            guard let number = Int(text), number >= minimum else {
                throw UsageError(description: "\(flag) needs a whole number of at least \(minimum), not \(text)")
            }
            return number
        }
        while let flag = remaining.popFirst() {
            switch flag {
            case "--database-url": self.databaseURL = try value(flag)
            case "--worker-id": self.workerID = try value(flag)
            case "--concurrency": self.concurrency = try number(flag, minimum: 1)
            case "--mode":
                let text = try value(flag)
                guard let mode = Mode(rawValue: text) else { throw UsageError(description: "unknown mode \(text)") }
                self.mode = mode
            case "--executors": self.executors = try number(flag, minimum: 1)
            case "--lease-ms": self.leaseDuration = .milliseconds(try number(flag, minimum: 1))
            case "--heartbeat-ms": self.heartbeatInterval = .milliseconds(try number(flag, minimum: 1))
            case "--rescue-ms": self.rescueInterval = .milliseconds(try number(flag, minimum: 1))
            case "--poll-ms": self.pollInterval = .milliseconds(try number(flag, minimum: 1))
            case "--grace-ms": self.gracePeriod = .milliseconds(try number(flag, minimum: 0))
            case "--pool-size": self.poolSize = try number(flag, minimum: 1)
            case "--finish-blocked": self.finishesBlocked = true
            case "--job-ms": self.jobDuration = .milliseconds(try number(flag, minimum: 0))
            case "--exit-with-parent": self.exitsWithParent = true
            case "--cron": self.cron = try value(flag)
            case "--scheduler-poll-ms": self.schedulerPollInterval = .milliseconds(try number(flag, minimum: 1))
            case "--no-leader-election": self.electsLeader = false
            case "--log-level":
                let text = try value(flag)
                guard let level = Logger.Level(rawValue: text) else { throw UsageError(description: "unknown log level \(text)") }
                self.logLevel = level
            default: throw UsageError(description: "unknown argument \(flag)")
            }
        }
        guard !self.databaseURL.isEmpty else { throw UsageError(description: "--database-url is required") }
        guard !self.workerID.isEmpty else { throw UsageError(description: "--worker-id is required") }
        guard self.heartbeatInterval < self.leaseDuration else {
            throw UsageError(description: "--heartbeat-ms must be shorter than --lease-ms")
        }
    }
}
