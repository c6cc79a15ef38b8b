import ArgumentParser
import Foundation
import JobKit

struct Watch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Follow a job's progress live until it ends.",
        discussion: """
            Draws a progress bar on a terminal, one line per change otherwise. Exits 0 once the job \
            is done, failed or cancelled, whatever the outcome: the last line names it.
            """)

    @Argument(help: "The job's id.")
    var id: UUID

    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        let bar = ProgressBar(redraws: isatty(STDOUT_FILENO) == 1)
        try await self.connection.withService { jobs in
            try await withThrowingTaskGroup(of: Void.self) { group in
                // The service listens for change notifications, so updates arrive at once.
                group.addTask { try await jobs.run() }
                do {
                    for try await update in jobs.updates(of: self.id) { bar.draw(update) }
                    group.cancelAll()
                } catch {
                    group.cancelAll()
                    throw error
                }
            }
        }
        bar.finish()
    }
}

/// `[##########----------]  50%  in_progress  page 2`, redrawn in place on a terminal.
struct ProgressBar {
    var redraws: Bool
    var width = 30

    func draw(_ update: JobUpdate) {
        let filled = update.progress * self.width / 100
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: self.width - filled)
        let percent = "\(update.progress)%"
        let line = "[\(bar)] \(String(repeating: " ", count: max(0, 4 - percent.count)))\(percent)  \(update.status)\(update.step.map { "  \($0)" } ?? "")"
        self.write(self.redraws ? "\r\u{1B}[K\(line)" : "\(line)\n")
    }

    func finish() {
        if self.redraws { self.write("\n") }
    }

    private func write(_ text: String) {
        // Unbuffered, so a pipe sees each update as it happens.
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}
