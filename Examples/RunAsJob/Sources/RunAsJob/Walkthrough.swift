import Foundation
import JobKit
import ServiceLifecycle
import Synchronization

/// The example's work, run as a service beside the `JobService` so that it can be shut down
/// gracefully (Ctrl-C) like any other.
struct Walkthrough: Service {
    let jobs: JobService
    let database: ExampleDatabase
    let pages: Int
    let pageDuration: Duration

    struct Note: Codable, Sendable {
        var title: String
        var text: String
    }

    struct Summary: Codable, Sendable {
        var words: Int
        var characters: Int
    }

    struct ReportRequest: Codable, Sendable {
        var quarter: String
        var pages: Int
    }

    struct Report: Codable, Sendable {
        var quarter: String
        var pages: Int
    }

    func run() async throws {
        try await self.runTrackedFunction()
        try await self.runCancellableJob()
    }

    // MARK: - The decorator form

    /// `tracked` wraps a function once; every call then runs as a job whose payload is the input
    /// and whose result is the output.
    func runTrackedFunction() async throws {
        let summarize = self.jobs.tracked("summarize-note") { (note: Note) async throws -> Summary in
            Summary(words: note.text.split(whereSeparator: \.isWhitespace).count, characters: note.text.count)
        }
        let summary = try await summarize(Note(title: "standup", text: "Ship the examples, then write the guides."))
        let recorded = try await self.jobs.list(JobFilter(types: ["summarize-note"]), limit: 1).jobs.first
        Console.line("1. tracked(\"summarize-note\") returned \(summary.words) words, \(summary.characters) characters.")
        if let recorded {
            Console.line("   Its job \(Self.text(recorded.id)) is \(recorded.status) in the database, result \(recorded.resultJSON ?? "none").")
        }
    }

    // MARK: - runAsJob, with progress and cancellation

    /// Renders a report page by page as a job; cancelling the job from anywhere cancels this task.
    func runCancellableJob() async throws {
        let request = ReportRequest(quarter: "2025-Q3", pages: self.pages)
        let started = Mutex<UUID?>(nil)
        do {
            let report = try await cancelWhenGracefulShutdown {
                try await self.jobs.runAsJob("render-report", reference: JobReference("report", request.quarter), payload: request) { job in
                    started.withLock { $0 = job.id }
                    self.printCancelInstructions(job.id)
                    for page in 1...request.pages {
                        try await Task.sleep(for: self.pageDuration)  // the work of one page
                        try await job.progress(page * 100 / request.pages, step: "page \(page) of \(request.pages)")
                        Console.status("   rendering: page \(page) of \(request.pages) (\(page * 100 / request.pages)%)")
                    }
                    return Report(quarter: request.quarter, pages: request.pages)
                }
            }
            Console.endStatus()
            Console.line("3. runAsJob returned a report of \(report.pages) pages; the job is done.")
        } catch let error as JobError where error.code == .cancelled {
            Console.endStatus()
            let id = error.jobID ?? started.withLock { $0 }
            try await self.reportCancellation(id, how: "cancelled from outside this process")
        } catch is CancellationError {
            Console.endStatus()
            try await self.reportCancellation(started.withLock { $0 }, how: "cancelled here (Ctrl-C or SIGTERM)")
        }
    }

    func printCancelInstructions(_ id: UUID) {
        let environment = self.database.isEmbedded ? "DATABASE_URL='\(self.database.url)' " : ""
        Console.line("2. runAsJob started job \(Self.text(id)) (\"render-report\", \(self.pages) pages).")
        Console.line("   Cancel it from another terminal, in the repository's root folder:")
        Console.line("     \(environment)swift run jobkit cancel \(Self.text(id))")
        if !self.database.isEmbedded {
            Console.line("   (with the same DATABASE_URL as this process)")
        }
    }

    func reportCancellation(_ id: UUID?, how: String) async throws {
        guard let id else {
            Console.line("The job was cancelled before it started.")
            return
        }
        let job = try await self.jobs.job(id)
        // The history keeps who asked for the cancellation and why (`jobkit cancel --reason --actor`).
        let history = try await self.jobs.history(of: id)
        let request = history.last { $0.kind == "cancel_requested" } ?? history.last { $0.toStatus == .cancelled }
        var detail = ""
        if let request {
            let who = request.actor.map { "by \($0)" } ?? "cancelled"
            detail = " (\(who)\(request.message.map { ": \($0)" } ?? ""))"
        }
        Console.line("3. Job \(Self.text(id)) was \(how); it ended \(job.status) at \(job.progress)%\(detail).")
    }

    static func text(_ id: UUID) -> String { id.uuidString.lowercased() }
}
