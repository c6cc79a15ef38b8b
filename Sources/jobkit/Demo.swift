import ArgumentParser
import EmbeddedPostgres
import Foundation
import JobKit
import LibPQ

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run JobKit's main job end to end: on DATABASE_URL, or on a private embedded PostgreSQL.")

    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        var connection = self.connection
        var embedded: EmbeddedPostgres?
        if connection.databaseURL == nil && ProcessInfo.processInfo.environment["DATABASE_URL"] == nil {
            print("No DATABASE_URL: starting a private PostgreSQL…")
            do {
                let cluster = try await EmbeddedPostgres.start()
                embedded = cluster
                connection.databaseURL = cluster.url
            } catch {
                throw CommandFailure(error)
            }
        }
        do {
            try await connection.withService { jobs in try await Self.tour(jobs) }
            try await embedded?.shutdown()
        } catch {
            try? await embedded?.shutdown()
            throw error
        }
    }

    struct Document: Codable, Sendable {
        var name: String
        var pages: Int
    }

    struct Text: Codable, Sendable {
        var words: Int
    }

    static func tour(_ jobs: JobService) async throws {
        let applied = try await jobs.migrate()
        print("Schema ready\(applied.isEmpty ? "" : " (applied migration \(applied.map(String.init).joined(separator: ", ")))").")

        // 1. An async function run as a tracked job, with progress.
        let document = Document(name: "contract.pdf", pages: 4)
        let text = try await jobs.runAsJob("ocr", reference: .init("document", document.name), payload: document) { job in
            for page in 1...document.pages {
                try job.checkCancellation()
                try await job.progress(page * 100 / document.pages, step: "page \(page)")
                print("  ocr: page \(page) of \(document.pages)")
            }
            return Text(words: document.pages * 250)
        }
        print("1. runAsJob returned \(text.words) words; the job is done.")

        // 2. The decorator form: every call is a tracked job.
        let countWords = jobs.tracked("count-words") { (document: Document) async throws -> Text in
            Text(words: document.pages * 300)
        }
        let counted = try await countWords(Document(name: "memo.txt", pages: 2))
        print("2. tracked function returned \(counted.words) words.")

        // 3. A failing job keeps its error.
        struct Unreadable: Error {}
        do {
            _ = try await jobs.runAsJob("ocr", payload: Document(name: "scan.tiff", pages: 1)) { _ -> Text in throw Unreadable() }
        } catch {
            print("3. A failing job rethrew \(error) and is stored as failed.")
        }

        // 4. The lifecycle by hand, with a cancellation.
        let manual = try await jobs.create("report", payload: Document(name: "q3.xlsx", pages: 12))
        let cancelled = try await jobs.cancel(manual.id, reason: "not needed", actor: "demo")
        print("4. Created a report job by hand and cancelled it: \(cancelled.status).")

        let page = try await jobs.list(limit: 10)
        print("\nJobs:")
        for job in page.jobs.reversed() {
            print("  \(job.id.uuidString.lowercased().suffix(12))  \(job.type.padding(toLength: 12, withPad: " ", startingAt: 0))  \(job.status.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0))  \(job.progress)%")
        }
    }
}
