import Foundation
import JobKit
import ServiceLifecycle
import Synchronization

/// The batch, run as a service beside the `JobService` so that Ctrl-C shuts it down gracefully:
/// the files still running are cancelled, and their jobs end `cancelled`.
final class BatchRun: Service, Sendable {
    let jobs: JobService
    let files: [FileInput]
    let concurrency: Int
    let work: Duration
    let isEmbeddedDatabase: Bool
    private let failures = Atomic<Int>(0)

    init(jobs: JobService, files: [FileInput], concurrency: Int, work: Duration, isEmbeddedDatabase: Bool) {
        self.jobs = jobs
        self.files = files
        self.concurrency = concurrency
        self.work = work
        self.isEmbeddedDatabase = isEmbeddedDatabase
    }

    /// How many files failed (known once ``run()`` returned).
    var failedCount: Int { self.failures.load(ordering: .relaxed) }

    func run() async throws {
        Console.line("Processing \(self.files.count) files, at most \(self.concurrency) at once; each file is a job.")
        let bar = ProgressBar(total: self.files.count)
        let clock = ContinuousClock()
        let start = clock.now
        let work = self.work
        let results = try await cancelWhenGracefulShutdown {
            try await self.jobs.runBatch(FileInput.jobType, self.files, concurrency: self.concurrency) { file, job in
                do {
                    let stats = try await file.process(job: job, work: work)
                    bar.record(succeeded: true)
                    return stats
                } catch {
                    bar.record(succeeded: false)
                    throw error
                }
            }
        }
        let elapsed = clock.now - start
        bar.finish()
        self.summarize(results, elapsed: elapsed)
    }

    func summarize(_ results: [Result<FileStats, any Error>], elapsed: Duration) {
        var done: [FileStats] = []
        var failed: [(FileInput, any Error)] = []
        for (file, result) in zip(self.files, results) {
            switch result {
            case .success(let stats): done.append(stats)
            case .failure(let error): failed.append((file, error))
            }
        }
        self.failures.store(failed.count, ordering: .relaxed)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        Console.line()
        Console.line("Summary: \(self.files.count) files, \(done.count) done, \(failed.count) failed in \(String(format: "%.2f", seconds)) s (at most \(self.concurrency) at once).")
        Console.line("Totals: \(done.map(\.lines).reduce(0, +)) lines, \(done.map(\.words).reduce(0, +)) words, \(done.map(\.bytes).reduce(0, +)) bytes.")
        for (file, error) in failed {
            Console.line("  failed: \(file.name): \(error)")
        }
        if let busiest = done.max(by: { $0.words < $1.words }) {
            Console.line("Most words: \(busiest.name) (\(busiest.words)).")
        }
        if !self.isEmbeddedDatabase {
            Console.line("The jobs stay in the database: from the repository root, `swift run jobkit list --type \(FileInput.jobType)`.")
        }
    }
}

/// A progress bar shared by the batch's tasks: redrawn in place on a terminal, a line per tenth
/// of the work elsewhere (a CI log).
final class ProgressBar: Sendable {
    private struct State {
        var done = 0
        var failed = 0
        var printedTenths = -1
    }

    let total: Int
    private let state = Mutex(State())

    init(total: Int) {
        self.total = total
        self.draw(State())
    }

    /// Counts one finished file and redraws.
    func record(succeeded: Bool) {
        self.state.withLock { state in
            if succeeded { state.done += 1 } else { state.failed += 1 }
            self.draw(state)
            state.printedTenths = (state.done + state.failed) * 10 / self.total
        }
    }

    /// Ends the bar's line.
    func finish() {
        Console.endStatus()
    }

    private func draw(_ state: State) {
        let finished = state.done + state.failed
        let tenths = finished * 10 / self.total
        guard Console.isTerminal || tenths > state.printedTenths else { return }
        let width = 30
        let filled = finished * width / self.total
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        Console.status("[\(bar)] \(finished)/\(self.total)  done \(state.done)  failed \(state.failed)")
    }
}
