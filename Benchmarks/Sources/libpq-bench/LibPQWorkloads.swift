import Foundation
import LibPQ

/// The timed parts of each workload, on one open connection.
struct LibPQWorkloads {
    let connection: PostgresConnection
    /// Round trips to time, or rows to insert.
    let count: Int

    private static let clock = ContinuousClock()

    // MARK: - Round trip

    /// Runs `warmup` untimed `SELECT 1`, then `count` timed ones, each timed on its own.
    /// - Returns: `median_us`, `p99_us`, `mean_us`, `min_us`, `max_us` per round trip
    ///   (nearest-rank percentiles), `seconds` for the timed loop and `warmup`.
    func roundTrip(warmup: Int) async throws -> BenchReport {
        let check = try await self.connection.query("SELECT 1")
        guard let first = check.first, try first.decode(Int.self, at: 0) == 1 else {
            throw BenchError("SELECT 1 did not return 1")
        }
        for _ in 0..<warmup {
            try await self.connection.query("SELECT 1")
        }
        BenchLog.info("timing \(self.count) round trips after \(warmup) warm-up queries")

        var micros: [Double] = []
        micros.reserveCapacity(self.count)
        let start = Self.clock.now
        for _ in 0..<self.count {
            let sent = Self.clock.now
            try await self.connection.query("SELECT 1")
            micros.append(sent.duration(to: Self.clock.now).microseconds)
        }
        let elapsed = start.duration(to: Self.clock.now)

        let summary = LatencySummary(micros)
        var report = BenchReport()
        report["median_us"] = rounded(summary.median, places: 2)
        report["p99_us"] = rounded(summary.p99, places: 2)
        report["mean_us"] = rounded(summary.mean, places: 2)
        report["min_us"] = rounded(summary.min, places: 2)
        report["max_us"] = rounded(summary.max, places: 2)
        report["seconds"] = rounded(elapsed.seconds, places: 6)
        report["warmup"] = warmup
        return report
    }

    // MARK: - Inserts

    /// Empties `bench_rows` (untimed), inserts `count` rows the workload's way, then checks
    /// that `count(*)` is `count`.
    /// - Returns: `rows_per_sec`, `seconds` (the whole timed part), `encode_seconds` (the share
    ///   of it spent building statements or COPY text in the client) and, for insert-pipeline,
    ///   `pipeline_chunk` and `pipeline_calls`.
    /// - Throws: ``BenchError`` when a statement failed or the count is wrong.
    func insert(_ workload: Workload, pipelineChunk: Int) async throws -> BenchReport {
        try await self.connection.execute(script: """
            CREATE TABLE IF NOT EXISTS bench_rows (id bigint, name text, payload jsonb, created_at timestamptz);
            TRUNCATE bench_rows;
            """)
        BenchLog.info("inserting \(self.count) rows (\(workload.rawValue))")

        var report = BenchReport()
        var encoding = Duration.zero
        let start = Self.clock.now
        switch workload {
        case .insertSingle:
            for index in 0..<self.count {
                let built = Self.clock.now
                let statement = Self.insertStatement(index)
                encoding += built.duration(to: Self.clock.now)
                try await self.connection.query(statement)
            }
        case .insertPipeline:
            var calls = 0
            var next = 0
            while next < self.count {
                let built = Self.clock.now
                let end = min(next + pipelineChunk, self.count)
                let statements = (next..<end).map(Self.insertStatement)
                encoding += built.duration(to: Self.clock.now)
                let outcomes = try await self.connection.pipeline(statements)
                calls += 1
                for outcome in outcomes {
                    if case .failure(let error) = outcome {
                        throw BenchError("a pipelined INSERT failed: \(error.debugDescription)")
                    }
                }
                next = end
            }
            report["pipeline_chunk"] = pipelineChunk
            report["pipeline_calls"] = calls
        case .insertCopy:
            let built = Self.clock.now
            var rows = PostgresCopyRows()
            for index in 0..<self.count {
                rows.append(index, Self.name(index), PostgresJSON(RowPayload(ts: Date().timeIntervalSince1970)), Date())
            }
            encoding += built.duration(to: Self.clock.now)
            let copied = try await self.connection.copyFrom(
                "COPY bench_rows (id, name, payload, created_at) FROM STDIN",
                rows: rows
            )
            guard copied == self.count else {
                throw BenchError("COPY reported \(copied) rows, expected \(self.count)")
            }
        case .roundtrip:
            preconditionFailure("roundtrip is not an insert workload")
        }
        let elapsed = start.duration(to: Self.clock.now)

        let counted = try await self.connection.query("SELECT count(*) FROM bench_rows")
        let rows = try counted.first.map { try $0.decode(Int.self, at: 0) } ?? -1
        guard rows == self.count else {
            throw BenchError("bench_rows holds \(rows) rows after \(workload.rawValue), expected \(self.count)")
        }
        BenchLog.info("checked count(*) = \(rows)")

        report["rows_per_sec"] = rounded(Double(self.count) / elapsed.seconds, places: 1)
        report["seconds"] = rounded(elapsed.seconds, places: 6)
        report["encode_seconds"] = rounded(encoding.seconds, places: 6)
        return report
    }

    /// The row every insert workload writes for `index`: its payload is stamped when built.
    private static func insertStatement(_ index: Int) -> PostgresQuery {
        let payload = PostgresJSON(RowPayload(ts: Date().timeIntervalSince1970))
        return "INSERT INTO bench_rows (id, name, payload, created_at) VALUES (\(index), \(name(index)), \(payload), \(Date()))"
    }

    private static func name(_ index: Int) -> String {
        "row-\(index)"
    }
}

/// The `payload` of every row: `{"ts": <wall-clock seconds when the row was built>}`, as in the
/// job workloads of BENCHMARKS.md.
struct RowPayload: Codable, Sendable {
    var ts: Double
}

// MARK: - Figures

/// Nearest-rank percentiles of a sample, as the peers' `benchcommon.pct` computes them.
struct LatencySummary {
    let median: Double
    let p99: Double
    let mean: Double
    let min: Double
    let max: Double

    init(_ values: [Double]) {
        precondition(!values.isEmpty, "a latency summary needs at least one value")
        let sorted = values.sorted()
        func percentile(_ q: Double) -> Double {
            let rank = Int((q * Double(sorted.count)).rounded(.up)) - 1
            return sorted[Swift.min(Swift.max(rank, 0), sorted.count - 1)]
        }
        self.median = percentile(0.50)
        self.p99 = percentile(0.99)
        self.mean = sorted.reduce(0, +) / Double(sorted.count)
        self.min = sorted[0]
        self.max = sorted[sorted.count - 1]
    }
}

func rounded(_ value: Double, places: Int) -> Double {
    let scale = pow(10, Double(places))
    return (value * scale).rounded() / scale
}

extension Duration {
    var seconds: Double {
        let (seconds, attoseconds) = self.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    var microseconds: Double {
        self.seconds * 1e6
    }
}
