// The code of Documentation/RunAsJob.md (see GettingStartedSamples.swift for how it is checked).
import Foundation
import JobKit

enum RunAsJobSamples {
    // MARK: runAsJob

    static func recognizeDocument(jobs: JobService, document: Document) async throws -> Text {
        let text = try await jobs.runAsJob("ocr", reference: JobReference("document", document.id), payload: document) { job in
            var words = 0
            for page in 1...document.pages {
                try job.checkCancellation()
                words += try await recognize(page: page, of: document)
                try await job.progress(page * 100 / document.pages, step: "page \(page)")
            }
            return Text(words: words)
        }
        return text
    }

    static func summariseWithOptions(jobs: JobService, document: Document) async throws -> Summary {
        let summary = try await jobs.runAsJob(
            "summarise",
            payload: document,
            options: JobOptions(queue: "reports", timeout: .seconds(120))
        ) { job in
            job.logger.debug("Summarising")  // the logger's metadata names the job's id and type
            return try await summarise(document)
        }
        return summary
    }

    // MARK: Errors

    static func handleOutcomes(jobs: JobService, document: Document) async throws {
        do {
            _ = try await jobs.runAsJob("ocr", payload: document) { _ in try await recognize(document) }
        } catch let error as JobError where error.code == .cancelled {
            // Cancelled from elsewhere (another process, the CLI, the admin API): the job is cancelled.
        } catch let error as JobError where error.code == .timedOut {
            // Ran past options.timeout: the job is failed.
        } catch is CancellationError {
            // This task was cancelled: the job is cancelled.
        } catch {
            // The closure threw: the job is failed, its error message "Type: description".
        }
    }

    // MARK: The decorator form

    static func trackedFunctions(jobs: JobService, document: Document) async throws -> (Text, Int) {
        let ocr = jobs.tracked("ocr", reference: { (document: Document) in JobReference("document", document.id) }) {
            (document: Document) async throws -> Text in
            try await recognize(document)
        }
        let text = try await ocr(document)  // one tracked job per call

        let importFile = jobs.tracked("import") { (file: String, job: JobContext) async throws -> Int in
            let rows = try await rows(of: file)
            for (index, row) in rows.enumerated() {
                try await importRow(row)
                try await job.progress((index + 1) * 100 / rows.count)
            }
            return rows.count
        }
        let imported = try await importFile("customers.csv")
        return (text, imported)
    }

    // MARK: Finding, cancelling and watching a job

    static func findRunning(jobs: JobService, document: Document) async throws -> [Job] {
        let page = try await jobs.list(JobFilter(statuses: [.inProgress], reference: JobReference("document", document.id)))
        return page.jobs
    }

    static func cancel(jobs: JobService, id: UUID) async throws {
        try await jobs.cancel(id, reason: "the user closed the tab", actor: "web")
    }

    static func watch(jobs: JobService, id: UUID) async throws -> [JobUpdate] {
        var updates: [JobUpdate] = []
        for try await update in jobs.updates(of: id) {
            updates.append(update)  // update.status, update.progress (0...100), update.step
        }
        // The first update is the job as it was; the last shows it done, failed or cancelled.
        return updates
    }

    static func waitForResult(jobs: JobService, id: UUID) async throws -> Text {
        let text = try await jobs.result(of: id, as: Text.self)
        return text
    }
}
