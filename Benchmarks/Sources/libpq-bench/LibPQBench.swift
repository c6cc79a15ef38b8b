import ArgumentParser
import Foundation
import LibPQ

/// `libpq-bench`: times JobKit's LibPQ client on one connection and prints one JSON line.
///
/// ```
/// libpq-bench --workload roundtrip --dsn postgresql://postgres@127.0.0.1:5432/postgres --run 1
/// {"mean_us":61.2,"median_us":58.9,"n":10000,"p99_us":95.1,"peer":"jobkit-libpq","run":"1",…}
/// ```
@main
struct LibPQBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "libpq-bench",
        abstract: "Times JobKit's LibPQ client: sequential round trips, and N rows inserted three ways.",
        discussion: """
            Prints exactly one JSON line with sorted keys on stdout; logs go to stderr.
            The insert workloads create the table bench_rows if it is missing and empty it
            before the timed part; afterwards count(*) must equal N or the run fails.
            """
    )

    @Option(help: "What to time: \(Workload.allCases.map(\.rawValue).joined(separator: ", ")).")
    var workload: Workload

    @Option(help: """
        A libpq URL. Defaults to DATABASE_URL; when that is unset too, an embedded PostgreSQL \
        with durable settings is started for the run and removed afterwards.
        """)
    var dsn: String?

    @Option(help: "Round trips to time, or rows to insert.")
    var n: Int = 10_000

    @Option(name: .customLong("run"), help: "A label for this run, copied into the JSON.")
    var runLabel: String = "0"

    @Option(help: "Untimed `SELECT 1` round trips before a roundtrip run.")
    var warmup: Int = 200

    @Option(help: "Statements per pipeline call in insert-pipeline.")
    var pipelineChunk: Int = 1_000

    func validate() throws {
        guard self.n >= 1 else { throw ValidationError("--n must be at least 1, got \(self.n)") }
        guard self.warmup >= 0 else { throw ValidationError("--warmup must not be negative, got \(self.warmup)") }
        guard self.pipelineChunk >= 1 else {
            throw ValidationError("--pipeline-chunk must be at least 1, got \(self.pipelineChunk)")
        }
    }

    func run() async throws {
        let server = try await BenchServer.resolve(dsn: self.dsn, environment: ProcessInfo.processInfo.environment)
        let outcome: Result<BenchReport, any Error>
        do {
            outcome = .success(try await self.measure(url: server.url))
        } catch {
            outcome = .failure(error)
        }
        try await server.shutdown()
        var report: BenchReport
        switch outcome {
        case .success(let measured):
            report = measured
        case .failure(let error):
            // debugDescription: the server's message, SQLSTATE and statement, not just the code.
            BenchLog.info("failed: \(String(reflecting: error))")
            throw ExitCode.failure
        }
        report["n"] = self.n
        report["peer"] = "jobkit-libpq"
        report["run"] = self.runLabel
        report["workload"] = self.workload.rawValue
        try report.emit()
    }

    private func measure(url: String) async throws -> BenchReport {
        let configuration = PostgresConfiguration(url, applicationName: "libpq-bench")
        let connection = try await PostgresConnection.connect(to: configuration)
        let workloads = LibPQWorkloads(connection: connection, count: self.n)
        let report: BenchReport
        do {
            switch self.workload {
            case .roundtrip:
                report = try await workloads.roundTrip(warmup: self.warmup)
            case .insertSingle, .insertPipeline, .insertCopy:
                report = try await workloads.insert(self.workload, pipelineChunk: self.pipelineChunk)
            }
        } catch {
            await connection.close()
            throw error
        }
        await connection.close()
        return report
    }
}

/// The workloads `--workload` accepts.
enum Workload: String, CaseIterable, ExpressibleByArgument {
    /// N sequential `SELECT 1`, each timed.
    case roundtrip
    /// N `INSERT`s, one statement per round trip, each its own transaction.
    case insertSingle = "insert-single"
    /// N `INSERT`s sent through ``PostgresConnection/pipeline(_:file:line:)`` in chunks.
    case insertPipeline = "insert-pipeline"
    /// N rows in one `COPY … FROM STDIN`.
    case insertCopy = "insert-copy"
}
