import Foundation

/// The one JSON line a run prints: keys sorted, as the peers' `json.dumps(sort_keys=True)`.
struct Report {
    private(set) var fields: [String: Any] = [:]

    subscript(key: String) -> Any? {
        get { self.fields[key] }
        set { self.fields[key] = newValue }
    }

    mutating func merge(_ other: Report) {
        self.fields.merge(other.fields) { _, new in new }
    }

    /// Writes the line to stdout.
    func emit() throws {
        var data = try JSONSerialization.data(withJSONObject: self.fields, options: [.sortedKeys, .withoutEscapingSlashes])
        data.append(UInt8(ascii: "\n"))
        FileHandle.standardOutput.write(data)
    }
}

/// A failed run: its message goes to stderr and the exit status is non-zero.
struct BenchFailure: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}

/// Progress lines on stderr, so stdout carries only the JSON line.
enum Log {
    static func info(_ message: String) {
        FileHandle.standardError.write(Data("jobkit-bench: \(message)\n".utf8))
    }
}

/// The latency summary of workload C, as the peers' `latency_summary` computes it.
enum Latency {
    /// Nearest-rank percentile of an ascending list.
    static func percentile(_ sorted: [Double], _ q: Double) -> Double {
        let index = max(0, Int((q * Double(sorted.count)).rounded(.up)) - 1)
        return sorted[min(index, sorted.count - 1)]
    }

    static func summary(seconds: [Double]) -> Report {
        var report = Report()
        let ms = seconds.map { $0 * 1000 }.sorted()
        report["count"] = ms.count
        guard !ms.isEmpty else { return report }
        report["p50_ms"] = percentile(ms, 0.50)
        report["p95_ms"] = percentile(ms, 0.95)
        report["p99_ms"] = percentile(ms, 0.99)
        report["max_ms"] = ms[ms.count - 1]
        report["mean_ms"] = ms.reduce(0, +) / Double(ms.count)
        return report
    }
}

/// Wall-clock seconds since the epoch (payload timestamps, handler start times).
func wallClock() -> Double {
    Date().timeIntervalSince1970
}

extension Duration {
    /// The duration in seconds, as a `Double`.
    var seconds: Double {
        Double(self.components.seconds) + Double(self.components.attoseconds) / 1e18
    }
}
